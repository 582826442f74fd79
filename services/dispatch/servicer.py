"""gRPC DispatchService. GetTask is served; the linguists' calls arrive with the dispatch issue."""

from __future__ import annotations

import grpc

from protos import dispatch_pb2, dispatch_pb2_grpc, events_pb2, transcripts_pb2
from services.dispatch.handler import task_id_for
from shared.records import get_or_abort
from shared.service import ServiceContext


class DispatchServicer(dispatch_pb2_grpc.DispatchServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def GetTask(
        self, request: dispatch_pb2.GetTaskRequest, context: grpc.ServicerContext
    ) -> dispatch_pb2.Task:
        segment_id = request.segment_id
        if request.task_id:
            segment_id = request.task_id.removeprefix("task:").removesuffix(":correct")
        corrected = get_or_abort(self._ctx.sessions, segment_id, transcripts_pb2.CorrectedTranscript, context)
        return dispatch_pb2.Task(
            task_id=task_id_for(segment_id),
            kind=events_pb2.TASK_KIND_CORRECT,
            state=events_pb2.TASK_STATE_DONE,
            context=corrected.context,
            segment=corrected.segment,
            verdict=corrected.verdict,
            assignee=corrected.corrected_by,
            version=corrected.version,
        )
