"""gRPC AnnotateService: label a segment outside the flow, or read a segment's labels."""

from __future__ import annotations

import grpc

from protos import annotate_pb2, annotate_pb2_grpc, transcripts_pb2
from services.annotate.labeller import Labeller
from services.annotate.publish import AWAITING
from services.annotate.settings import AnnotateSettings
from shared.db.tables import SegmentRecord
from shared.service import ServiceContext

MAX_TEXT_CHARS = 100_000


class AnnotateServicer(annotate_pb2_grpc.AnnotateServiceServicer):
    def __init__(self, ctx: ServiceContext, labeller: Labeller, settings: AnnotateSettings) -> None:
        self._ctx = ctx
        self._labeller = labeller
        self._settings = settings

    def Annotate(
        self, request: annotate_pb2.AnnotateRequest, context: grpc.ServicerContext
    ) -> transcripts_pb2.AnnotatedTranscript:
        segment = request.segment
        if not segment.language:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "segment.language is required (BCP-47, e.g. 'en')"
            )
        if len(segment.text) > MAX_TEXT_CHARS:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"segment.text has {len(segment.text)} characters; at most {MAX_TEXT_CHARS} in one call",
            )
        labels = self._labeller.label([segment], [request.tenant_id])[0]
        provenance = self._ctx.provenance(model_name="spacy", model_version=self._labeller.versions())
        return labels.annotated(segment=segment, provenance=provenance)

    def GetAnnotation(
        self, request: annotate_pb2.GetAnnotationRequest, context: grpc.ServicerContext
    ) -> transcripts_pb2.AnnotatedTranscript:
        if not request.segment_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "segment_id is required")
        with self._ctx.sessions() as session:
            record = session.get(SegmentRecord, request.segment_id)
            if record is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no segment {request.segment_id!r} in this service")
                raise AssertionError("unreachable: context.abort raises")
            validated = transcripts_pb2.ValidatedTranscript.FromString(record.payload)
            state, version = record.state, record.version
        return transcripts_pb2.AnnotatedTranscript(
            context=validated.context,
            segment=validated.segment,
            entities=validated.entities,
            sentiment=validated.sentiment,
            intent=validated.intent,
            speaker_sentiment=validated.speaker_sentiment,
            pipeline=validated.pipeline,
            trained_pipeline=validated.trained_pipeline,
            needs_label_review=state == AWAITING,
            version=version,
            provenance=validated.provenance,
        )
