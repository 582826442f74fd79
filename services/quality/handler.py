"""Topic transcripts.draft.v1 -> transcripts.qa.v1.

PLACEHOLDER until the quality-gate issue: no detector runs; every segment is routed to human
review, and the verdict says so in its reasons. What is real already: validation, the hop's
state in the database, publishing through the outbox.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from protos import transcripts_pb2
from shared.kafka.consumer import Handler, Inbound, require
from shared.kafka.outbox import Outbound
from shared.records import record_and_publish
from shared.service import ServiceContext
from shared.topics import TRANSCRIPTS_QA

PLACEHOLDER_REASON = "placeholder gate: every segment goes to a person until detectors land"


def verdict_for(ctx: ServiceContext, draft: transcripts_pb2.DraftTranscript) -> transcripts_pb2.QaVerdict:
    require(draft, "segment.segment_id", "context.recording_id")
    return transcripts_pb2.QaVerdict(
        context=draft.context,
        draft=draft,
        route=transcripts_pb2.ROUTE_HUMAN_REVIEW,
        reasons=[PLACEHOLDER_REASON],
        policy_version="placeholder",
        provenance=ctx.provenance(),
    )


def make_handler(ctx: ServiceContext) -> Handler:
    def handle_draft(session: Session, inbound: Inbound[transcripts_pb2.DraftTranscript]) -> list[Outbound]:
        verdict = verdict_for(ctx, inbound.message)
        return [
            record_and_publish(
                session,
                topic=TRANSCRIPTS_QA.name,
                segment_id=verdict.draft.segment.segment_id,
                recording_id=verdict.context.recording_id,
                state="routed",
                message=verdict,
                source_message_id=inbound.message_id,
            )
        ]

    return handle_draft
