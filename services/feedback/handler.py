"""Topic transcripts.validated.v1 -> training.examples.v1.

PLACEHOLDER until the feedback issue: one ASR example per validated segment (draft text as
source, validated text as target) with a stable split; no datasets or retraining yet.
What is real already: validation, the hop's state, publishing through the outbox.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from protos import events_pb2, transcripts_pb2
from shared.kafka.consumer import Handler, Inbound, require
from shared.kafka.outbox import Outbound
from shared.records import record_and_publish
from shared.service import ServiceContext
from shared.topics import TRAINING_EXAMPLES


def split_for(recording_id: str) -> str:
    """Whole recordings go to one split, so no speaker leaks from train into test."""
    bucket = int(hashlib.sha256(recording_id.encode()).hexdigest()[:8], 16) % 100
    return "test" if bucket < 10 else "dev" if bucket < 20 else "train"


def example_for(
    ctx: ServiceContext, validated: transcripts_pb2.ValidatedTranscript
) -> events_pb2.TrainingExample:
    require(validated, "segment.segment_id", "context.recording_id")
    segment = validated.segment
    return events_pb2.TrainingExample(
        example_id=f"asr:{segment.segment_id}",
        kind=events_pb2.EXAMPLE_KIND_ASR,
        context=validated.context,
        segment_id=segment.segment_id,
        language=segment.language,
        start_s=segment.start_s,
        end_s=segment.end_s,
        source_text=validated.draft.text
        if validated.HasField("draft")
        else segment.text,  # auto-accepted: no draft
        target_text=segment.text,
        split=split_for(validated.context.recording_id),
        provenance=ctx.provenance(),
    )


def make_handler(ctx: ServiceContext) -> Handler:
    def handle_validated(
        session: Session, inbound: Inbound[transcripts_pb2.ValidatedTranscript]
    ) -> list[Outbound]:
        example = example_for(ctx, inbound.message)
        return [
            record_and_publish(
                session,
                topic=TRAINING_EXAMPLES.name,
                segment_id=example.segment_id,
                recording_id=example.context.recording_id,
                state="exported",
                message=example,
                source_message_id=inbound.message_id,
            )
        ]

    return handle_validated
