"""Topics transcripts.qa.v1 (auto-accepted) and transcripts.corrected.v1
-> transcripts.annotated.v1 + transcripts.validated.v1.

PLACEHOLDER until the annotation issue: no labels yet (pipeline "none"); every annotated segment
is at once validated. What is real already: the two entry paths, validation, the hop's state,
publishing through the outbox.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from protos import common_pb2, transcripts_pb2
from shared.kafka.consumer import Handler, Inbound, require
from shared.kafka.outbox import Outbound
from shared.records import record_and_publish
from shared.service import ServiceContext
from shared.topics import TRANSCRIPTS_ANNOTATED, TRANSCRIPTS_VALIDATED


def publish_labelled(
    ctx: ServiceContext,
    session: Session,
    inbound_id: str,
    context: common_pb2.RecordingContext,
    segment: common_pb2.TranscriptSegment,
    draft: common_pb2.TranscriptSegment,
    verdict: transcripts_pb2.QaVerdict,
    version: int,
) -> list[Outbound]:
    annotated = transcripts_pb2.AnnotatedTranscript(
        context=context,
        segment=segment,
        pipeline="none",
        version=version,
        provenance=ctx.provenance(),
    )
    validated = transcripts_pb2.ValidatedTranscript(
        context=context,
        segment=segment,
        route=verdict.route,
        confidence=verdict.confidence,
        draft=draft,
        provenance=ctx.provenance(),
        versions=[common_pb2.VersionRef(version=version, kind="validated", provenance=ctx.provenance())],
    )
    return [
        Outbound(TRANSCRIPTS_ANNOTATED.name, annotated, key=context.recording_id),
        record_and_publish(
            session,
            topic=TRANSCRIPTS_VALIDATED.name,
            segment_id=segment.segment_id,
            recording_id=context.recording_id,
            state="validated",
            message=validated,
            source_message_id=inbound_id,
            version=version,
        ),
    ]


def make_handlers(ctx: ServiceContext) -> tuple[Handler, Handler]:
    def handle_verdict(session: Session, inbound: Inbound[transcripts_pb2.QaVerdict]) -> list[Outbound]:
        verdict = inbound.message
        require(verdict, "draft.segment.segment_id", "context.recording_id")
        if verdict.route != transcripts_pb2.ROUTE_AUTO_ACCEPT:
            return []  # a person will correct it; it comes back on transcripts.corrected.v1
        return publish_labelled(
            ctx,
            session,
            inbound.message_id,
            verdict.context,
            verdict.draft.segment,
            verdict.draft.segment,
            verdict,
            verdict.draft.version,
        )

    def handle_corrected(
        session: Session, inbound: Inbound[transcripts_pb2.CorrectedTranscript]
    ) -> list[Outbound]:
        corrected = inbound.message
        require(corrected, "segment.segment_id", "context.recording_id")
        return publish_labelled(
            ctx,
            session,
            inbound.message_id,
            corrected.context,
            corrected.segment,
            corrected.draft,
            corrected.verdict,
            corrected.version,
        )

    return handle_verdict, handle_corrected
