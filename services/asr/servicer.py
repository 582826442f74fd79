"""gRPC AsrService. GetDraft is served; Transcribe arrives with the ASR issue."""

from __future__ import annotations

import grpc

from protos import asr_pb2, asr_pb2_grpc, transcripts_pb2
from shared.records import get_or_abort
from shared.service import ServiceContext


class AsrServicer(asr_pb2_grpc.AsrServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def GetDraft(
        self, request: asr_pb2.GetDraftRequest, context: grpc.ServicerContext
    ) -> transcripts_pb2.DraftTranscript:
        return get_or_abort(self._ctx.sessions, request.segment_id, transcripts_pb2.DraftTranscript, context)
