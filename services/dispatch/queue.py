"""The queue: tasks open from verdicts, are claimed under leases, and go back when released,
skipped, escalated or lapsed.

    correct (annotator) --submit--> review (reviewer) --approve--> published on transcripts.corrected.v1
         ^                               |                              \\--> QA sample (qa_lead), a share
         '------- reject, with reasons --'  (too many rejections: escalated to a senior)

Submitting and reviewing are in ``corrections``; the plumbing every change shares in ``tasks``.
Each function returns the messages to publish through the outbox.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from protos import dispatch_pb2, events_pb2, transcripts_pb2
from services.dispatch import rules, versions
from services.dispatch.rules import CLAIMED, ESCALATED, QUEUED, Part, Person
from services.dispatch.store import DispatchSegment, DispatchTask
from services.dispatch.tasks import (
    SYSTEM,
    QueueConfig,
    Refused,
    audit,
    change,
    held,
    new_task,
    open_task,
    snapshot,
    to_senior,
)
from shared.kafka.outbox import Outbound

CLAIM_CANDIDATES = 20


def accept_verdict(
    session: Session, verdict: transcripts_pb2.QaVerdict, config: QueueConfig, trace_id: str = ""
) -> list[Outbound]:
    """Keep every segment (context for its neighbours' tasks); open correction tasks for those
    the gate sent to people: two independent ones for a double-blind segment."""
    segment = verdict.draft.segment
    now = time.time()
    known = session.get(DispatchSegment, segment.segment_id)
    if known is None:
        session.add(
            DispatchSegment(
                segment_id=segment.segment_id,
                recording_id=verdict.context.recording_id,
                index=segment.index,
                verdict=verdict.SerializeToString(),
                version=verdict.draft.version,
                created_at=now,
            )
        )
    elif verdict.draft.version >= known.version:
        known.verdict, known.version = verdict.SerializeToString(), verdict.draft.version
    if verdict.route != transcripts_pb2.ROUTE_HUMAN_REVIEW:
        return []
    if session.scalar(
        select(DispatchTask.task_id).where(DispatchTask.segment_id == segment.segment_id).limit(1)
    ):
        return []  # already being worked on: a later verdict only refreshes the context above
    versions.add_version(session, segment, "draft", _model(verdict), version=verdict.draft.version)
    slots = (1, 2) if verdict.double_blind and not verdict.gold else (0,)
    out = []
    for slot in slots:
        task_id = f"{segment.segment_id}:correct" + (f":{slot}" if slot else "")
        task = new_task(
            verdict,
            task_id,
            verdict.draft.version,
            config,
            double_blind_slot=slot,
            gold=verdict.gold,
            trace_id=trace_id,
        )
        out.append(open_task(session, task, "routed to people: " + "; ".join(verdict.reasons)))
    return out


def _model(verdict: transcripts_pb2.QaVerdict) -> str:
    p = verdict.draft.provenance
    return f"{p.model_name}@{p.model_version}" if p.model_name else "asr"


def parts_of(session: Session, segment_id: str) -> list[Part]:
    tasks = session.scalars(select(DispatchTask).where(DispatchTask.segment_id == segment_id))
    return [Part(s, t.kind, t.double_blind_slot, t.task_id) for t in tasks for s in (t.worked_by or [])]


def why_not(person: Person, task: DispatchTask, parts: Sequence[Part], config: QueueConfig) -> str | None:
    """Why ``person`` may not work ``task`` (role, language, skill, own work); None when they may."""
    if not person.works_tier(task.tier):
        return f"{person.subject} lacks the {task.tier} role"
    if not person.speaks(task.language, task.dialect):
        return f"{person.subject} is not scoped to language {task.dialect or task.language}"
    if not person.knows_domain(task.domain, config.skill_domains):
        return f"{person.subject} lacks the {task.domain} domain skill"
    return rules.conflict(person.subject, task.task_id, task.kind, parts)


def expire_leases(session: Session, now: float | None = None) -> list[Outbound]:
    """Return lapsed claims to their queue."""
    now = time.time() if now is None else now
    lapsed = session.scalars(
        select(DispatchTask)
        .where(DispatchTask.state == CLAIMED, DispatchTask.lease_expires_at < now)
        .with_for_update(skip_locked=True)
    ).all()
    return [
        change(session, t, SYSTEM, "lease_expired", f"lease of {t.assignee} lapsed", **_requeue(t))
        for t in lapsed
    ]


def _requeue(task: DispatchTask) -> dict[str, Any]:
    return {"state": ESCALATED if task.tier == "senior" else QUEUED, "assignee": "", "lease_expires_at": 0.0}


def _waiting(person: Person, kinds: Iterable[int], languages: Iterable[str]) -> Select[DispatchTask]:
    """Queued and escalated tasks of the person's tiers and languages (narrowed by ``kinds`` and
    ``languages`` when given), best first. Dialect, skill and own-work rules are ``_may_take``'s."""
    tiers = list(rules.ROLES) if person.admin else sorted(person.roles)
    query = select(DispatchTask).where(
        DispatchTask.state.in_((QUEUED, ESCALATED)), DispatchTask.tier.in_(tiers)
    )
    if kinds := list(kinds):
        query = query.where(DispatchTask.kind.in_(kinds))
    scope = None if person.admin else rules.language_keys(person.languages)
    if wanted := rules.language_keys(languages):
        scope = wanted if scope is None else scope & wanted
    if scope is not None:
        query = query.where(DispatchTask.language.in_(sorted(scope)))
    return query.order_by(
        DispatchTask.priority.desc(), DispatchTask.deadline, DispatchTask.created_at, DispatchTask.task_id
    )


def _may_take(session: Session, person: Person, task: DispatchTask, config: QueueConfig) -> bool:
    if person.subject in (task.skipped_by or []):
        return False
    return why_not(person, task, parts_of(session, task.segment_id), config) is None


def claim_next(
    session: Session,
    person: Person,
    config: QueueConfig,
    kinds: Iterable[int] = (),
    languages: Iterable[str] = (),
) -> tuple[DispatchTask, list[Outbound]] | None:
    """The best task this person may work now, claimed under a lease; None when there is none."""
    now = time.time()
    query = _waiting(person, kinds, languages)
    offset = 0
    while True:
        batch = session.scalars(
            query.offset(offset).limit(CLAIM_CANDIDATES).with_for_update(skip_locked=True)
        ).all()
        for task in batch:
            if not _may_take(session, person, task, config):
                continue
            try:
                event = change(
                    session,
                    task,
                    person.subject,
                    "ClaimNextTask",
                    state=CLAIMED,
                    assignee=person.subject,
                    lease_expires_at=now + config.lease_s,
                    worked_by=sorted({*(task.worked_by or []), person.subject}),
                )
            except Refused:
                continue  # someone else claimed it a moment ago
            return task, [event]
        if len(batch) < CLAIM_CANDIDATES:
            return None
        offset += CLAIM_CANDIDATES


def heartbeat(
    session: Session, person: Person, task_id: str, config: QueueConfig
) -> tuple[DispatchTask, list[Outbound]]:
    task = held(session, person, task_id, "Heartbeat")
    before = snapshot(task)
    task.lease_expires_at = time.time() + config.lease_s
    session.flush()
    audit(session, person.subject, "Heartbeat", task, before=before)
    return task, []  # a lease extension is audited but is no queue change


def release(
    session: Session, person: Person, task_id: str, reason: str
) -> tuple[DispatchTask, list[Outbound]]:
    task = held(session, person, task_id, "ReleaseTask")
    return task, [
        change(session, task, person.subject, "ReleaseTask", reason or "released", **_requeue(task))
    ]


def skip(session: Session, person: Person, task_id: str, reason: str) -> tuple[DispatchTask, list[Outbound]]:
    """Back to the queue for someone else: the skipper is not offered it again."""
    task = held(session, person, task_id, "SkipTask")
    skipped = sorted({*(task.skipped_by or []), person.subject})
    return task, [
        change(
            session,
            task,
            person.subject,
            "SkipTask",
            reason or "skipped",
            skipped_by=skipped,
            **_requeue(task),
        )
    ]


def escalate(
    session: Session, person: Person, task_id: str, reason: str
) -> tuple[DispatchTask, list[Outbound]]:
    if not reason.strip():
        raise Refused("INVALID_ARGUMENT", "EscalateTask: a reason is required")
    task = held(session, person, task_id, "EscalateTask")
    return task, [to_senior(session, task, person.subject, "EscalateTask", reason)]


def open_tasks(
    session: Session,
    person: Person,
    config: QueueConfig,
    kinds: Iterable[int] = (),
    languages: Iterable[str] = (),
    limit: int = 50,
) -> list[DispatchTask]:
    """What the person holds, then what they could claim, best first (the queue screen)."""
    mine = list(
        session.scalars(
            select(DispatchTask).where(DispatchTask.state == CLAIMED, DispatchTask.assignee == person.subject)
        )
    )
    out: list[DispatchTask] = []
    for task in session.scalars(_waiting(person, kinds, languages)):
        if _may_take(session, person, task, config):
            out.append(task)
            if len(out) >= limit:
                break
    return mine + out


def queue_stats(session: Session, now: float) -> dispatch_pb2.QueueStats:
    """Counts by state and kind, and of open tasks by language and tier, counted by the database."""
    stats = dispatch_pb2.QueueStats()
    t = DispatchTask
    for state, kind, n in session.execute(select(t.state, t.kind, func.count()).group_by(t.state, t.kind)):
        stats.by_state[events_pb2.TaskState.Name(state).removeprefix("TASK_STATE_").lower()] += n  # type: ignore[arg-type]
        stats.by_kind[events_pb2.TaskKind.Name(kind).removeprefix("TASK_KIND_").lower()] += n  # type: ignore[arg-type]
    open_ = t.state.in_(rules.OPEN_STATES)
    for language, tier, n in session.execute(
        select(t.language, t.tier, func.count()).where(open_).group_by(t.language, t.tier)
    ):
        stats.by_language[language] += n
        stats.open_by_tier[tier] += n
    overdue, oldest = session.execute(
        select(func.count().filter(t.deadline < now), func.min(t.created_at)).where(open_)
    ).one()
    stats.overdue = overdue
    stats.oldest_open_age_s = now - oldest if oldest is not None else 0.0
    return stats
