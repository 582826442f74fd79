"""gRPC IngestService: the same intake as the topic, with the outcome as a gRPC status."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc

from protos import audio_pb2, ingest_pb2, ingest_pb2_grpc
from services.ingest.intake import ChunkRejected, IntakeConfig, mark_failed, receive_chunk, stream_status
from services.ingest.streams import IngestStream
from shared.kafka import codec
from shared.service import ServiceContext

STATUS_FOR = {
    "invalid": grpc.StatusCode.INVALID_ARGUMENT,
    "audio": grpc.StatusCode.INVALID_ARGUMENT,
    "conflict": grpc.StatusCode.ALREADY_EXISTS,
    "late": grpc.StatusCode.FAILED_PRECONDITION,
}


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, ctx: ServiceContext, config: IntakeConfig) -> None:
        self._ctx = ctx
        self._config = config

    def _take(self, chunk: audio_pb2.AudioChunk, trace_id: str, context: grpc.ServicerContext) -> None:
        try:
            with self._ctx.unit_of_work(trace_id) as (session, outbound):
                _, out = receive_chunk(
                    self._ctx, self._config, session, chunk, trace_id, f"grpc-{codec.new_id()}"
                )
                outbound.extend(out)
        except ChunkRejected as exc:
            if exc.fails_stream:
                with self._ctx.unit_of_work(trace_id) as (session, _):
                    mark_failed(session, chunk, trace_id, str(exc))
            context.abort(STATUS_FOR[exc.kind], str(exc))

    def _receipt(self, stream_id: str) -> ingest_pb2.IngestReceipt:
        with self._ctx.sessions() as session:
            row = session.get(IngestStream, stream_id)
            assert row is not None, "the stream row was written in this call"
            return ingest_pb2.IngestReceipt(
                recording_id=row.recording_id, stream_id=stream_id, status=stream_status(row)
            )

    def StreamAudio(
        self, request_iterator: Iterator[audio_pb2.AudioChunk], context: grpc.ServicerContext
    ) -> ingest_pb2.IngestReceipt:
        trace_id = codec.new_id()
        stream_id = ""
        for chunk in request_iterator:
            stream_id = stream_id or chunk.stream_id
            if chunk.stream_id != stream_id:
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"one StreamAudio call carries one stream: got {chunk.stream_id!r} after {stream_id!r}",
                )
            self._take(chunk, trace_id, context)
        if not stream_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "StreamAudio received no chunks")
        return self._receipt(stream_id)

    def UploadRecording(
        self, request: ingest_pb2.UploadRecordingRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.IngestReceipt:
        """A whole file is a stream of one final chunk; a repeated upload is recognised."""
        stream_id = request.context.stream_id or request.context.recording_id or f"upload-{uuid.uuid4()}"
        chunk = audio_pb2.AudioChunk(
            stream_id=stream_id,
            sequence=0,
            final=True,
            data=request.data,
            encoding=audio_pb2.AUDIO_ENCODING_CONTAINER,
            mime_type=request.mime_type,
            context=request.context,
        )
        self._take(chunk, codec.new_id(), context)
        return self._receipt(stream_id)

    def GetStream(
        self, request: ingest_pb2.GetStreamRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.StreamStatus:
        if not request.stream_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "stream_id is required")
        with self._ctx.sessions() as session:
            row = session.get(IngestStream, request.stream_id)
            if row is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no stream {request.stream_id!r}")
                raise AssertionError("unreachable: context.abort raises")
            return stream_status(row)
