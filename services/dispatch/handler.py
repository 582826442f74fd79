"""Topic messages -> tasks.

- transcripts.qa.v1: every verdict is kept as context, those routed to people become correction
  tasks (``queue.accept_verdict``).
- transcripts.annotated.v1: annotations that need a person's check become label-review tasks
  (``labels.accept_annotated``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from protos import transcripts_pb2
from services.dispatch.labels import accept_annotated
from services.dispatch.queue import accept_verdict
from services.dispatch.tasks import QueueConfig
from shared.kafka.consumer import Handler, Inbound, require
from shared.kafka.outbox import Outbound
from shared.records import save_segment_state


def make_handler(config: QueueConfig) -> Handler:
    def handle_verdict(session: Session, inbound: Inbound[transcripts_pb2.QaVerdict]) -> list[Outbound]:
        verdict = inbound.message
        require(verdict, "draft.segment.segment_id", "context.recording_id")
        out = accept_verdict(session, verdict, config, inbound.trace_id)
        save_segment_state(
            session,
            segment_id=verdict.draft.segment.segment_id,
            recording_id=verdict.context.recording_id,
            state="tasked" if out else "context",
            message=verdict,
            source_message_id=inbound.message_id,
            version=verdict.draft.version,
        )
        return out

    return handle_verdict


def make_annotated_handler(config: QueueConfig) -> Handler:
    """The segment's record (``segment_records``) stays with its transcript: labels are not a
    transcript state, and the label review's outcome is annotate's to record."""

    def handle_annotated(
        session: Session, inbound: Inbound[transcripts_pb2.AnnotatedTranscript]
    ) -> list[Outbound]:
        annotated = inbound.message
        require(annotated, "segment.segment_id", "context.recording_id")
        return accept_annotated(session, annotated, config, inbound.trace_id)

    return handle_annotated
