"""gRPC FeedbackService. GetExample is served; dataset export arrives with the feedback issue."""

from __future__ import annotations

import grpc

from protos import events_pb2, feedback_pb2, feedback_pb2_grpc
from shared.records import get_or_abort
from shared.service import ServiceContext


class FeedbackServicer(feedback_pb2_grpc.FeedbackServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def GetExample(
        self, request: feedback_pb2.GetExampleRequest, context: grpc.ServicerContext
    ) -> events_pb2.TrainingExample:
        return get_or_abort(self._ctx.sessions, request.segment_id, events_pb2.TrainingExample, context)
