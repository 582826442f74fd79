"""gRPC QualityService. GetVerdict is served; the reports arrive with the quality-gate issue."""

from __future__ import annotations

import grpc

from protos import quality_pb2, quality_pb2_grpc, transcripts_pb2
from shared.records import get_or_abort
from shared.service import ServiceContext


class QualityServicer(quality_pb2_grpc.QualityServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def GetVerdict(
        self, request: quality_pb2.GetVerdictRequest, context: grpc.ServicerContext
    ) -> transcripts_pb2.QaVerdict:
        return get_or_abort(self._ctx.sessions, request.segment_id, transcripts_pb2.QaVerdict, context)
