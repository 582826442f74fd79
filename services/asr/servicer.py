"""gRPC AsrService: a synchronous Transcribe for one file, and drafts by segment id."""

from __future__ import annotations

import grpc

from protos import asr_pb2, asr_pb2_grpc, transcripts_pb2
from services.asr.drafting import SpeechModels, transcribe_file
from shared.audio import AudioError, decode_container
from shared.records import get_or_abort
from shared.service import ServiceContext


class AsrServicer(asr_pb2_grpc.AsrServiceServicer):
    def __init__(self, ctx: ServiceContext, models: SpeechModels, max_duration_s: float) -> None:
        self._ctx = ctx
        self._models = models
        self._max_duration_s = max_duration_s

    def Transcribe(
        self, request: asr_pb2.TranscribeRequest, context: grpc.ServicerContext
    ) -> asr_pb2.TranscribeResponse:
        try:
            audio = decode_container(request.data, self._max_duration_s)
        except AudioError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"TranscribeRequest.data: {exc.code}: {exc}")
        if request.diarize and self._models.diarizer is None:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, "diarization is disabled on this server (ASR_DIARIZE)"
            )
        with self._models.lock:
            transcription, segments = transcribe_file(
                self._models, audio.samples, request.language_hint, request.diarize
            )
            provenance = self._models.provenance(self._ctx, self._models.options)
        return asr_pb2.TranscribeResponse(
            language=transcription.language,
            language_probability=transcription.language_probability,
            duration_s=audio.duration_s,
            segments=segments,
            provenance=provenance,
        )

    def GetDraft(
        self, request: asr_pb2.GetDraftRequest, context: grpc.ServicerContext
    ) -> transcripts_pb2.DraftTranscript:
        return get_or_abort(self._ctx.sessions, request.segment_id, transcripts_pb2.DraftTranscript, context)
