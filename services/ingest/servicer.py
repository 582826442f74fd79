"""gRPC IngestService. GetStream is served; the upload paths arrive with the ASR issue."""

from __future__ import annotations

import grpc
from sqlalchemy import select

from protos import audio_pb2, ingest_pb2, ingest_pb2_grpc
from shared.db.tables import SegmentRecord
from shared.service import ServiceContext


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def GetStream(
        self, request: ingest_pb2.GetStreamRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.StreamStatus:
        if not request.stream_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "stream_id is required")
        with self._ctx.sessions() as session:
            rows = session.scalars(
                select(SegmentRecord).where(SegmentRecord.segment_id.startswith(f"{request.stream_id}:"))
            ).all()
        if not rows:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no stream {request.stream_id!r}")
        segments = [audio_pb2.AudioSegment.FromString(r.payload) for r in rows]
        final = any(s.last for s in segments)
        return ingest_pb2.StreamStatus(
            stream_id=request.stream_id,
            recording_id=segments[0].context.recording_id,
            state=ingest_pb2.STREAM_STATE_COMPLETE if final else ingest_pb2.STREAM_STATE_RECEIVING,
            chunks_received=len(segments),
            segments_published=len(segments),
        )
