"""The task lifecycle as plain functions over a database session.

    correct (annotator) --submit--> review (reviewer) --approve--> published on transcripts.corrected.v1
         ^                               |                              \\--> QA sample (qa_lead), a share
         '------- reject, with reasons --'  (too many rejections: escalated to a senior)

Every change goes through ``_change``: the row's version guards it (a concurrent change makes it
fail, never both succeed), and it writes the audit row and the ``tasks.events.v1`` event in the
same transaction. Each function returns the messages to publish through the outbox.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from protos import common_pb2, events_pb2, transcripts_pb2
from services.dispatch import rules, versions
from services.dispatch.rules import (
    CLAIMED,
    CORRECT,
    DONE,
    ESCALATED,
    QA_SAMPLE,
    QUEUED,
    REVIEW,
    SUBMITTED,
    Part,
    Person,
)
from services.dispatch.store import AuditRow, DispatchSegment, DispatchTask, TranscriptVersionRow
from shared.kafka import codec
from shared.kafka.outbox import Outbound
from shared.records import record_and_publish
from shared.topics import TASKS_EVENTS, TRANSCRIPTS_CORRECTED

SYSTEM = "dispatch"
CLAIM_CANDIDATES = 20


class Refused(Exception):
    """A request the rules do not allow; ``code`` is the gRPC status name it maps to."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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


def _event(
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


def _change(
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
    return _event(task, from_state, actor, reason, event_state)


def _deadline(risk: str, now: float, config: QueueConfig) -> float:
    return now + config.sla_s.get(risk, config.sla_s.get("medium", 86400.0))


def _fresh(**fields: Any) -> DispatchTask:
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
    )
    return DispatchTask(**{**start, **fields})


def _new_task(
    verdict: transcripts_pb2.QaVerdict, task_id: str, base_version: int, config: QueueConfig, **extra: Any
) -> DispatchTask:
    context = verdict.context
    segment = verdict.draft.segment
    language = segment.language or context.language_hint or "und"
    return _fresh(
        task_id=task_id,
        segment_id=segment.segment_id,
        recording_id=context.recording_id,
        kind=CORRECT,
        tier=rules.TIER_OF_KIND[CORRECT],
        language=language.split("-")[0].lower(),
        dialect=context.metadata.get("dialect", ""),
        domain=context.domain.lower(),
        tenant_id=context.tenant_id,
        priority=rules.priority_of(verdict.risk_tier),
        deadline=_deadline(verdict.risk_tier, time.time(), config),
        base_version=base_version,
        **extra,
    )


def _follow_up(task: DispatchTask, task_id: str, kind: int, base_version: int, parent: str) -> DispatchTask:
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
    return _fresh(
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
    )


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
        task = _new_task(
            verdict,
            task_id,
            verdict.draft.version,
            config,
            double_blind_slot=slot,
            gold=verdict.gold,
            trace_id=trace_id,
        )
        session.add(task)
        session.flush()
        audit(session, SYSTEM, "created", task, detail="; ".join(verdict.reasons))
        out.append(
            _event(
                task,
                events_pb2.TASK_STATE_UNSPECIFIED,
                SYSTEM,
                "routed to people: " + "; ".join(verdict.reasons),
            )
        )
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
        _change(session, t, SYSTEM, "lease_expired", f"lease of {t.assignee} lapsed", **_requeue(t))
        for t in lapsed
    ]


def _requeue(task: DispatchTask) -> dict[str, Any]:
    return {"state": ESCALATED if task.tier == "senior" else QUEUED, "assignee": "", "lease_expires_at": 0.0}


def claim_next(
    session: Session,
    person: Person,
    config: QueueConfig,
    kinds: Iterable[int] = (),
    languages: Iterable[str] = (),
) -> tuple[DispatchTask, list[Outbound]] | None:
    """The best task this person may work now, claimed under a lease; None when there is none."""
    now = time.time()
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
    query = query.order_by(
        DispatchTask.priority.desc(), DispatchTask.deadline, DispatchTask.created_at, DispatchTask.task_id
    )
    offset = 0
    while True:
        batch = session.scalars(
            query.offset(offset).limit(CLAIM_CANDIDATES).with_for_update(skip_locked=True)
        ).all()
        for task in batch:
            if person.subject in (task.skipped_by or []) or why_not(
                person, task, parts_of(session, task.segment_id), config
            ):
                continue
            try:
                event = _change(
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
        _change(session, task, person.subject, "ReleaseTask", reason or "released", **_requeue(task))
    ]


def skip(session: Session, person: Person, task_id: str, reason: str) -> tuple[DispatchTask, list[Outbound]]:
    """Back to the queue for someone else: the skipper is not offered it again."""
    task = held(session, person, task_id, "SkipTask")
    skipped = sorted({*(task.skipped_by or []), person.subject})
    return task, [
        _change(
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
    return task, [_escalate(session, task, person.subject, "EscalateTask", reason)]


def _escalate(
    session: Session, task: DispatchTask, actor: str, action: str, reason: str, **values: Any
) -> Outbound:
    """To a senior; ``values`` change with it, so the audit's ``before`` shows them unchanged."""
    return _change(
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
            "priority": task.priority + 50 if task.tier != "senior" else task.priority,
            "reasons": [reason],
            **values,
        },
    )


def validate_correction(
    segment: common_pb2.TranscriptSegment,
    span: common_pb2.TranscriptSegment,
    flags: Sequence[int],
    tolerance_s: float,
) -> None:
    """A correction must stay inside its segment, in time order, and say something (or say why not)."""
    if segment.segment_id and segment.segment_id != span.segment_id:
        raise Refused(
            "INVALID_ARGUMENT",
            f"segment.segment_id {segment.segment_id!r} is not this task's segment {span.segment_id!r}",
        )
    if (
        not segment.text.strip()
        and not segment.words
        and not (
            {transcripts_pb2.CORRECTION_FLAG_NON_SPEECH, transcripts_pb2.CORRECTION_FLAG_UNINTELLIGIBLE}
            & set(flags)
        )
    ):
        raise Refused("INVALID_ARGUMENT", "an empty correction needs the non_speech or unintelligible flag")
    lo, hi = span.start_s - tolerance_s, span.end_s + tolerance_s
    previous = lo
    for i, w in enumerate(segment.words):
        if not w.text.strip():
            raise Refused("INVALID_ARGUMENT", f"segment.words[{i}] is empty")
        if w.end_s < w.start_s:
            raise Refused(
                "INVALID_ARGUMENT",
                f"segment.words[{i}] {w.text!r} ends ({w.end_s:.2f}) before it starts ({w.start_s:.2f})",
            )
        if w.start_s < lo or w.end_s > hi:
            raise Refused(
                "INVALID_ARGUMENT",
                f"segment.words[{i}] {w.text!r} at {w.start_s:.2f}-{w.end_s:.2f} s is outside "
                f"the segment {span.start_s:.2f}-{span.end_s:.2f} s",
            )
        if w.start_s + 1e-6 < previous:
            raise Refused(
                "INVALID_ARGUMENT", f"segment.words[{i}] {w.text!r} starts before the word before it"
            )
        previous = w.start_s


def submit_correction(
    session: Session,
    person: Person,
    task_id: str,
    corrected: common_pb2.TranscriptSegment,
    flags: Sequence[int],
    notes: str,
    base_version: int,
    config: QueueConfig,
) -> tuple[DispatchTask, list[Outbound]]:
    task = held(session, person, task_id, "SubmitCorrection")
    if task.kind != CORRECT:
        raise Refused("FAILED_PRECONDITION", f"task {task_id} is a {_kind(task)} task, not a correction")
    if base_version and base_version != task.base_version:
        raise Refused(
            "ABORTED",
            f"task {task_id} now works from version {task.base_version}, not {base_version}; reload it",
        )
    base = versions.get_version(session, task.segment_id, task.base_version)
    assert base is not None
    validate_correction(corrected, base, flags, config.time_tolerance_s)
    segment = common_pb2.TranscriptSegment()
    segment.CopyFrom(base)
    segment.MergeFrom(corrected)  # scalars given win; repeated words replaced below
    del segment.words[:]
    segment.words.extend(corrected.words)
    segment.segment_id = task.segment_id
    if not corrected.text and corrected.words:
        segment.text = " ".join(w.text.strip() for w in corrected.words)
    row = versions.add_version(session, segment, "correction", person.subject, task.task_id, notes)
    out = [
        _change(
            session,
            task,
            person.subject,
            "SubmitCorrection",
            f"version {row.version}",
            state=DONE if task.gold else SUBMITTED,
            flags=[int(f) for f in flags],
            notes=notes,
            lease_expires_at=0.0,
        )
    ]
    if task.gold:  # a gold audit is scored by the quality service, never reviewed nor validated
        out.append(_corrected(session, task, row.version, person.subject, ""))
        return task, out
    review = _follow_up(task, f"{task.segment_id}:review:{row.version}", REVIEW, row.version, task.task_id)
    session.add(review)
    session.flush()
    audit(session, SYSTEM, "created", review, detail=f"review of version {row.version}")
    out.append(_event(review, events_pb2.TASK_STATE_UNSPECIFIED, SYSTEM, f"review of version {row.version}"))
    return task, out


def _kind(task: DispatchTask) -> str:
    return events_pb2.TaskKind.Name(task.kind).removeprefix("TASK_KIND_").lower()  # type: ignore[arg-type]


def review(
    session: Session, person: Person, task_id: str, approve: bool, reasons: Sequence[str], config: QueueConfig
) -> tuple[DispatchTask, list[Outbound]]:
    task = held(session, person, task_id, "ReviewTask")
    if task.kind not in (REVIEW, QA_SAMPLE):
        raise Refused("FAILED_PRECONDITION", f"task {task_id} is a {_kind(task)} task, not a review")
    reasons = [r.strip() for r in reasons if r.strip()]
    if not approve and not reasons:
        raise Refused("INVALID_ARGUMENT", "ReviewTask: a rejection needs at least one reason")
    verb = "approved" if approve else "rejected"
    out = [
        _change(
            session,
            task,
            person.subject,
            "ReviewTask",
            f"{verb}: " + "; ".join(reasons) if reasons else verb,
            event_state=events_pb2.TASK_STATE_APPROVED if approve else events_pb2.TASK_STATE_REJECTED,
            state=DONE,
            reasons=reasons,
            lease_expires_at=0.0,
        )
    ]
    if task.kind == QA_SAMPLE:
        if not approve:  # published already: a senior corrects it again, and that version supersedes
            correction = load(session, task.parent_task_id, lock=True)
            out.append(
                _reopen(
                    session,
                    correction,
                    person.subject,
                    ["QA: " + r for r in reasons],
                    escalate=True,
                    base=task.base_version,
                )
            )
        return task, out
    correction = load(session, task.parent_task_id, lock=True)
    if not approve:
        too_many = correction.rejections + 1 > config.max_rejections
        out.append(
            _reopen(session, correction, person.subject, reasons, escalate=too_many, base=task.base_version)
        )
        return task, out
    corrected = versions.get_version(session, task.segment_id, task.base_version)
    assert corrected is not None
    row = versions.add_version(session, corrected, "review", person.subject, task.task_id, "approved")
    # The author of the version reviewed: in a double-blind pair the newest may be the other half's.
    reviewed = session.get(TranscriptVersionRow, (task.segment_id, task.base_version))
    corrector = reviewed.author if reviewed is not None else ""
    out.append(
        _change(
            session,
            correction,
            person.subject,
            "approved",
            f"approved by {person.subject}",
            event_state=events_pb2.TASK_STATE_APPROVED,
            state=DONE,
        )
    )
    out.append(_corrected(session, correction, row.version, corrector, person.subject))
    if _sampled(task.segment_id, row.version, config.qa_sample_rate):
        sample = _follow_up(
            task, f"{task.segment_id}:qa:{row.version}", QA_SAMPLE, row.version, correction.task_id
        )
        session.add(sample)
        session.flush()
        audit(session, SYSTEM, "created", sample, detail=f"QA sample of version {row.version}")
        out.append(_event(sample, events_pb2.TASK_STATE_UNSPECIFIED, SYSTEM, "QA sample"))
    return task, out


def _reopen(
    session: Session, correction: DispatchTask, actor: str, reasons: list[str], escalate: bool, base: int
) -> Outbound:
    """Send a correction back: to its queue with the reasons, or to a senior. ``base`` is the version
    that was judged, not the segment's newest: in a double-blind pair that may be the other half."""
    if escalate:
        return _escalate(
            session,
            correction,
            actor,
            "rejected",
            "; ".join(reasons) or "rejected",
            base_version=base,
            rejections=correction.rejections + 1,
        )
    return _change(
        session,
        correction,
        actor,
        "rejected",
        "; ".join(reasons),
        event_state=events_pb2.TASK_STATE_REJECTED,
        state=QUEUED,
        assignee="",
        lease_expires_at=0.0,
        base_version=base,
        rejections=correction.rejections + 1,
        reasons=reasons,
    )


def _sampled(segment_id: str, version: int, rate: float) -> bool:
    """A stable draw: the same segment and version are sampled the same way on every replica."""
    digest = hashlib.sha256(f"qa:{segment_id}:{version}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def _corrected(session: Session, task: DispatchTask, version: int, corrector: str, reviewer: str) -> Outbound:
    known = session.get(DispatchSegment, task.segment_id)
    assert known is not None
    verdict = transcripts_pb2.QaVerdict.FromString(known.verdict)
    segment = versions.get_version(session, task.segment_id, version)
    draft = versions.get_version(
        session, task.segment_id, min(r.version for r in versions.history(session, task.segment_id))
    )
    message = transcripts_pb2.CorrectedTranscript(
        context=verdict.context,
        segment=segment,
        draft=draft,
        version=version,
        history=versions.version_refs(session, task.segment_id),
        task_id=task.task_id,
        corrected_by=corrector,
        reviewed_by=reviewer,
        flags=task.flags or [],  # type: ignore[arg-type]
        notes=task.notes or "",
        verdict=verdict,
    )
    message.verdict.double_blind = task.double_blind_slot > 0
    message.verdict.gold = task.gold
    out = record_and_publish(  # the hop's state (segment_records) follows the segment too
        session,
        topic=TRANSCRIPTS_CORRECTED.name,
        segment_id=task.segment_id,
        recording_id=verdict.context.recording_id,
        state="corrected",
        message=message,
        source_message_id=task.task_id,
        version=version,
    )
    return replace(out, trace_id=task.trace_id or None)


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
    query = (
        select(DispatchTask)
        .where(or_(DispatchTask.state == QUEUED, DispatchTask.state == ESCALATED))
        .order_by(DispatchTask.priority.desc(), DispatchTask.deadline, DispatchTask.created_at)
    )
    if kinds := list(kinds):
        query = query.where(DispatchTask.kind.in_(kinds))
    if wanted := rules.language_keys(languages):
        query = query.where(DispatchTask.language.in_(sorted(wanted)))
    out: list[DispatchTask] = []
    for task in session.scalars(query.limit(limit * 4)):
        if (
            person.subject not in (task.skipped_by or [])
            and why_not(person, task, parts_of(session, task.segment_id), config) is None
        ):
            out.append(task)
        if len(out) >= limit:
            break
    return mine + out
