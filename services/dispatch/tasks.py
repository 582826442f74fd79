"""What every task change shares: the task's fields, the refusal, the audit row and the event.

Every change goes through ``change``: the row's version guards it (of two concurrent changes one
fails, never both succeed), and it writes the audit row and the ``tasks.events.v1`` event in the
same transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from protos import common_pb2, events_pb2, transcripts_pb2
from services.dispatch import rules
from services.dispatch.rules import CLAIMED, CORRECT, ESCALATED, QUEUED, Person
from services.dispatch.store import AuditRow, DispatchTask
from shared.kafka import codec
from shared.kafka.outbox import Outbound
from shared.topics import TASKS_EVENTS

SYSTEM = "dispatch"


class Refused(Exception):
    """A request the rules do not allow; ``code`` is the gRPC status name it maps to."""

    def __init__(self, code: str, message: str, quiet: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.quiet = quiet  # an answer, not a refusal (an empty queue): no audit row


@dataclass(frozen=True)
class QueueConfig:
    lease_s: float = 300.0
    max_rejections: int = 2  # one more sends the task to a senior
    qa_sample_rate: float = 0.1
    sla_s: Mapping[str, float] = field(
        default_factory=lambda: {"high": 4 * 3600.0, "medium": 24 * 3600.0, "low": 72 * 3600.0}
    )
    skill_domains: tuple[str, ...] = ("medical", "legal", "finance")
    time_tolerance_s: float = 0.5  # corrected words may reach this far past the segment's span


def snapshot(task: DispatchTask) -> dict[str, Any]:
    return {
        "state": events_pb2.TaskState.Name(task.state),  # type: ignore[arg-type]
        "tier": task.tier,
        "assignee": task.assignee,
        "lease_expires_at": round(task.lease_expires_at, 3),
        "base_version": task.base_version,
        "rejections": task.rejections,
        "reasons": list(task.reasons or []),
    }


def audit(
    session: Session,
    actor: str,
    action: str,
    task: DispatchTask | None = None,
    allowed: bool = True,
    outcome: str = "OK",
    before: Mapping[str, Any] | None = None,
    detail: str = "",
    task_id: str = "",
) -> None:
    session.add(
        AuditRow(
            at=time.time(),
            actor=actor,
            action=action,
            task_id=task.task_id if task is not None else task_id,
            allowed=allowed,
            outcome=outcome,
            before=json.dumps(before, sort_keys=True) if before else "",
            after=json.dumps(snapshot(task), sort_keys=True) if task is not None and allowed else "",
            detail=detail,
            language=task.language if task is not None else "",
        )
    )


def event(
    task: DispatchTask, from_state: int, actor: str, reason: str, to_state: int | None = None
) -> Outbound:
    event = events_pb2.TaskEvent(
        event_id=codec.new_id(),
        task_id=task.task_id,
        kind=task.kind,  # type: ignore[arg-type]
        segment_id=task.segment_id,
        recording_id=task.recording_id,
        from_state=from_state,  # type: ignore[arg-type]
        to_state=task.state if to_state is None else to_state,  # type: ignore[arg-type]
        actor=actor,
        reason=reason,
        details={"tier": task.tier, "language": task.language, "version": str(task.base_version)},
    )
    event.at.GetCurrentTime()
    return Outbound(TASKS_EVENTS.name, event, key=task.task_id, trace_id=task.trace_id or None)


def change(
    session: Session,
    task: DispatchTask,
    actor: str,
    action: str,
    reason: str = "",
    event_state: int | None = None,
    **values: Any,
) -> Outbound:
    """Apply ``values`` to the task under its row version; audit it; return its task event."""
    before = snapshot(task)
    from_state = task.state
    for name, value in values.items():
        setattr(task, name, value)
    task.updated_at = time.time()
    try:
        with session.begin_nested():
            session.flush()
    except StaleDataError:
        raise Refused("ABORTED", f"task {task.task_id} was changed by someone else; read it again") from None
    audit(session, actor, action, task, before=before, detail=reason)
    # The event may tell what happened (APPROVED, REJECTED) where the row keeps where it now waits.
    return event(task, from_state, actor, reason, event_state)


def open_task(session: Session, task: DispatchTask, reason: str) -> Outbound:
    """Store a new task, audit its creation and return its first event."""
    session.add(task)
    session.flush()
    audit(session, SYSTEM, "created", task, detail=reason)
    return event(task, events_pb2.TASK_STATE_UNSPECIFIED, SYSTEM, reason)


def deadline(risk: str, now: float, config: QueueConfig) -> float:
    return now + config.sla_s.get(risk, config.sla_s.get("medium", 86400.0))


def fresh(**fields: Any) -> DispatchTask:
    """A new queued task: the fields given, the rest at their starting values."""
    now = time.time()
    start: dict[str, Any] = dict(
        state=QUEUED,
        dialect="",
        domain="",
        tenant_id="",
        created_at=now,
        updated_at=now,
        assignee="",
        lease_expires_at=0.0,
        worked_by=[],
        skipped_by=[],
        rejections=0,
        reasons=[],
        double_blind_slot=0,
        gold=False,
        parent_task_id="",
        flags=[],
        notes="",
        trace_id="",
        split_at=[],
        merged=[],
    )
    return DispatchTask(**{**start, **fields})


def placement(
    context: common_pb2.RecordingContext,
    segment: common_pb2.TranscriptSegment,
    risk_tier: str,
    config: QueueConfig,
) -> dict[str, Any]:
    """Where a new task of a segment waits: its language (base language; the dialect from the
    recording's metadata), domain and tenant, and its priority and deadline by risk tier."""
    language = segment.language or context.language_hint or "und"
    return dict(
        segment_id=segment.segment_id,
        recording_id=context.recording_id,
        language=language.split("-")[0].lower(),
        dialect=context.metadata.get("dialect", ""),
        domain=context.domain.lower(),
        tenant_id=context.tenant_id,
        priority=rules.priority_of(risk_tier),
        deadline=deadline(risk_tier, time.time(), config),
    )


def new_task(
    verdict: transcripts_pb2.QaVerdict, task_id: str, base_version: int, config: QueueConfig, **extra: Any
) -> DispatchTask:
    return fresh(
        **placement(verdict.context, verdict.draft.segment, verdict.risk_tier, config),
        task_id=task_id,
        kind=CORRECT,
        tier=rules.TIER_OF_KIND[CORRECT],
        base_version=base_version,
        **extra,
    )


def follow_up(task: DispatchTask, task_id: str, kind: int, base_version: int, parent: str) -> DispatchTask:
    """The next task on a segment (a review, a QA sample), inheriting its place in the queue."""
    inherited = (
        "segment_id",
        "recording_id",
        "language",
        "dialect",
        "domain",
        "tenant_id",
        "priority",
        "deadline",
    )
    return fresh(
        **{c: getattr(task, c) for c in inherited},
        task_id=task_id,
        kind=kind,
        tier=rules.TIER_OF_KIND[kind],
        base_version=base_version,
        parent_task_id=parent,
        double_blind_slot=task.double_blind_slot,
        trace_id=task.trace_id,
        flags=list(task.flags or []),  # the corrector's flags and notes reach the reviewer
        notes=task.notes or "",
        split_at=list(task.split_at or []),  # the reviewer judges the cut too
        merged=list(task.merged or []),
    )


def load(session: Session, task_id: str, lock: bool = False) -> DispatchTask:
    query = select(DispatchTask).where(DispatchTask.task_id == task_id)
    task = session.scalars(query.with_for_update() if lock else query).first()
    if task is None:
        raise Refused("NOT_FOUND", f"no task {task_id!r}")
    return task


def held(session: Session, person: Person, task_id: str, action: str) -> DispatchTask:
    """The task, if ``person`` holds it under a live lease."""
    task = load(session, task_id, lock=True)
    if task.state != CLAIMED or task.assignee != person.subject:
        raise Refused("FAILED_PRECONDITION", f"{action}: task {task_id} is not held by {person.subject}")
    if task.lease_expires_at < time.time():
        raise Refused("FAILED_PRECONDITION", f"{action}: your lease on {task_id} lapsed; claim it again")
    return task


def kind_name(task: DispatchTask) -> str:
    return events_pb2.TaskKind.Name(task.kind).removeprefix("TASK_KIND_").lower()  # type: ignore[arg-type]


def to_senior(
    session: Session, task: DispatchTask, actor: str, action: str, reason: str, **values: Any
) -> Outbound:
    """To a senior; ``values`` change with it, so the audit's ``before`` shows them unchanged."""
    return change(
        session,
        task,
        actor,
        action,
        reason,
        **{
            "state": ESCALATED,
            "tier": "senior",
            "assignee": "",
            "lease_expires_at": 0.0,
            "priority": task.priority + rules.ESCALATION_BONUS if task.tier != "senior" else task.priority,
            "reasons": [reason],
            **values,
        },
    )
