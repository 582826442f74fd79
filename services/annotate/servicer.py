"""gRPC AnnotateService. GetAnnotation is served; Annotate arrives with the annotation issue."""

from __future__ import annotations

import grpc

from protos import annotate_pb2, annotate_pb2_grpc, transcripts_pb2
from shared.records import get_or_abort
from shared.service import ServiceContext


class AnnotateServicer(annotate_pb2_grpc.AnnotateServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def GetAnnotation(
        self, request: annotate_pb2.GetAnnotationRequest, context: grpc.ServicerContext
    ) -> transcripts_pb2.AnnotatedTranscript:
        validated = get_or_abort(
            self._ctx.sessions, request.segment_id, transcripts_pb2.ValidatedTranscript, context
        )
        return transcripts_pb2.AnnotatedTranscript(
            context=validated.context,
            segment=validated.segment,
            entities=validated.entities,
            sentiment=validated.sentiment,
            intent=validated.intent,
            pipeline="none",
            provenance=validated.provenance,
        )
