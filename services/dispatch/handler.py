"""Topic transcripts.qa.v1 (human-review verdicts) -> transcripts.corrected.v1 + tasks.events.v1.

PLACEHOLDER until the dispatch issue: no person is involved yet. The task is created and at once
closed with the draft as its "correction" (both transitions are published as task events).
Verdicts that need no person are not dispatch's business and are recorded as skipped.
What is real already: validation, the hop's state, publishing through the outbox.
"""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.orm import Session

from protos import events_pb2, transcripts_pb2
from shared.kafka import codec
from shared.kafka.consumer import Handler, Inbound, require
from shared.kafka.outbox import Outbound
from shared.records import record_and_publish
from shared.service import ServiceContext
from shared.topics import TASKS_EVENTS, TRANSCRIPTS_CORRECTED

PLACEHOLDER_ACTOR = "placeholder:auto-close"


def task_id_for(segment_id: str) -> str:
    return f"task:{segment_id}:correct"


def task_events(task_id: str, verdict: transcripts_pb2.QaVerdict) -> list[events_pb2.TaskEvent]:
    now = Timestamp()
    now.GetCurrentTime()

    def event(
        from_state: events_pb2.TaskState.ValueType, to_state: events_pb2.TaskState.ValueType, reason: str
    ) -> events_pb2.TaskEvent:
        return events_pb2.TaskEvent(
            event_id=codec.new_id(),
            task_id=task_id,
            kind=events_pb2.TASK_KIND_CORRECT,
            segment_id=verdict.draft.segment.segment_id,
            recording_id=verdict.context.recording_id,
            from_state=from_state,
            to_state=to_state,
            actor=PLACEHOLDER_ACTOR,
            reason=reason,
            at=now,
        )

    return [
        event(
            events_pb2.TASK_STATE_UNSPECIFIED,
            events_pb2.TASK_STATE_QUEUED,
            "created from a human-review verdict",
        ),
        event(
            events_pb2.TASK_STATE_QUEUED,
            events_pb2.TASK_STATE_DONE,
            "placeholder: closed with the draft unchanged",
        ),
    ]


def correction_for(
    ctx: ServiceContext, verdict: transcripts_pb2.QaVerdict, task_id: str
) -> transcripts_pb2.CorrectedTranscript:
    return transcripts_pb2.CorrectedTranscript(
        context=verdict.context,
        segment=verdict.draft.segment,
        draft=verdict.draft.segment,
        version=verdict.draft.version + 1,
        task_id=task_id,
        corrected_by=PLACEHOLDER_ACTOR,
        reviewed_by=PLACEHOLDER_ACTOR,
        verdict=verdict,
        provenance=ctx.provenance(),
    )


def make_handler(ctx: ServiceContext) -> Handler:
    def handle_verdict(session: Session, inbound: Inbound[transcripts_pb2.QaVerdict]) -> list[Outbound]:
        verdict = inbound.message
        require(verdict, "draft.segment.segment_id", "context.recording_id")
        if verdict.route != transcripts_pb2.ROUTE_HUMAN_REVIEW:
            return []
        segment_id = verdict.draft.segment.segment_id
        task_id = task_id_for(segment_id)
        corrected = correction_for(ctx, verdict, task_id)
        return [
            *(Outbound(TASKS_EVENTS.name, e, key=task_id) for e in task_events(task_id, verdict)),
            record_and_publish(
                session,
                topic=TRANSCRIPTS_CORRECTED.name,
                segment_id=segment_id,
                recording_id=verdict.context.recording_id,
                state="corrected",
                message=corrected,
                source_message_id=inbound.message_id,
                version=corrected.version,
            ),
        ]

    return handle_verdict
