"""Corrections and reviews: a submitted correction becomes a version and a review task; an
approved one is published on transcripts.corrected.v1 (and sometimes sampled for QA); a rejected
one goes back with its reasons, or to a senior."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.orm import Session

from protos import common_pb2, events_pb2, transcripts_pb2
from services.dispatch import reshape, versions
from services.dispatch.rules import CORRECT, DONE, QA_SAMPLE, QUEUED, REVIEW, SUBMITTED, Person
from services.dispatch.store import DispatchSegment, DispatchTask, TranscriptVersionRow
from services.dispatch.tasks import (
    QueueConfig,
    Refused,
    change,
    follow_up,
    held,
    kind_name,
    load,
    open_task,
    to_senior,
)
from shared.kafka.outbox import Outbound
from shared.records import record_and_publish
from shared.topics import TRANSCRIPTS_CORRECTED


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
    parts: Sequence[common_pb2.TranscriptSegment] = (),
    merge_next: str = "",
) -> tuple[DispatchTask, list[Outbound]]:
    """A correction, possibly cut in ``parts`` or absorbing the next segment (``reshape``)."""
    task = held(session, person, task_id, "SubmitCorrection")
    if task.kind != CORRECT:
        raise Refused("FAILED_PRECONDITION", f"task {task_id} is a {kind_name(task)} task, not a correction")
    if base_version and base_version != task.base_version:
        raise Refused(
            "ABORTED",
            f"task {task_id} now works from version {task.base_version}, not {base_version}; reload it",
        )
    base = versions.get_version(session, task.segment_id, task.base_version)
    assert base is not None
    span, out = common_pb2.TranscriptSegment(), []
    span.CopyFrom(base)
    merged = list(task.merged or [])
    if merge_next:
        absorbed, their_draft = reshape.mergeable(session, task, merge_next, person)
        span.end_s = max(span.end_s, their_draft.segment.end_s)
        out.append(_close_merged(session, absorbed, their_draft, task, person))
        merged.append(merge_next)

    def check(part: common_pb2.TranscriptSegment, within: common_pb2.TranscriptSegment) -> None:
        validate_correction(part, within, flags, config.time_tolerance_s)

    split_at: list[float] = []
    if parts:
        corrected, split_at = reshape.combine_parts(parts, span, check)
    else:
        check(corrected, span)
    segment = common_pb2.TranscriptSegment()
    segment.CopyFrom(span)
    segment.MergeFrom(corrected)  # scalars given win; repeated words replaced below
    del segment.words[:]
    segment.words.extend(corrected.words)
    segment.segment_id = task.segment_id
    if not corrected.text and corrected.words:
        segment.text = " ".join(w.text.strip() for w in corrected.words)
    segment.start_s, segment.end_s = span.start_s, span.end_s
    row = versions.add_version(session, segment, "correction", person.subject, task.task_id, notes)
    out.insert(
        0,
        change(
            session,
            task,
            person.subject,
            "SubmitCorrection",
            f"version {row.version}",
            state=DONE if task.gold else SUBMITTED,
            flags=[int(f) for f in flags],
            notes=notes,
            lease_expires_at=0.0,
            split_at=split_at,
            merged=merged,
        ),
    )
    if task.gold:  # a gold audit is scored by the quality service, never reviewed nor validated
        out += _corrected(session, task, row.version, person.subject, "")
        return task, out
    review = follow_up(task, f"{task.segment_id}:review:{row.version}", REVIEW, row.version, task.task_id)
    out.append(open_task(session, review, f"review of version {row.version}"))
    return task, out


def review(
    session: Session, person: Person, task_id: str, approve: bool, reasons: Sequence[str], config: QueueConfig
) -> tuple[DispatchTask, list[Outbound]]:
    task = held(session, person, task_id, "ReviewTask")
    if task.kind not in (REVIEW, QA_SAMPLE):
        raise Refused("FAILED_PRECONDITION", f"task {task_id} is a {kind_name(task)} task, not a review")
    reasons = [r.strip() for r in reasons if r.strip()]
    if not approve and not reasons:
        raise Refused("INVALID_ARGUMENT", "ReviewTask: a rejection needs at least one reason")
    verb = "approved" if approve else "rejected"
    out = [
        change(
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
        change(
            session,
            correction,
            person.subject,
            "approved",
            f"approved by {person.subject}",
            event_state=events_pb2.TASK_STATE_APPROVED,
            state=DONE,
        )
    )
    out += _corrected(session, correction, row.version, corrector, person.subject)
    if _sampled(task.segment_id, row.version, config.qa_sample_rate):
        sample = follow_up(
            task, f"{task.segment_id}:qa:{row.version}", QA_SAMPLE, row.version, correction.task_id
        )
        out.append(open_task(session, sample, f"QA sample of version {row.version}"))
    return task, out


def _reopen(
    session: Session, correction: DispatchTask, actor: str, reasons: list[str], escalate: bool, base: int
) -> Outbound:
    """Send a correction back: to its queue with the reasons, or to a senior. ``base`` is the version
    that was judged, not the segment's newest: in a double-blind pair that may be the other half."""
    if escalate:
        return to_senior(
            session,
            correction,
            actor,
            "rejected",
            "; ".join(reasons) or "rejected",
            base_version=base,
            rejections=correction.rejections + 1,
        )
    return change(
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


def _close_merged(
    session: Session,
    absorbed: DispatchTask,
    draft: transcripts_pb2.DraftTranscript,
    into: DispatchTask,
    person: Person,
) -> Outbound:
    """The merged segment's own task ends here; its history says where its words went."""
    versions.add_version(
        session, draft.segment, "merged", person.subject, into.task_id, f"merged into {into.segment_id}"
    )
    return change(
        session,
        absorbed,
        person.subject,
        "merged",
        f"merged into {into.segment_id}",
        state=DONE,
        assignee="",
        lease_expires_at=0.0,
        reasons=[f"merged into {into.segment_id}"],
    )


def _corrected(
    session: Session, task: DispatchTask, version: int, corrector: str, reviewer: str
) -> list[Outbound]:
    """The approved version on transcripts.corrected.v1: one message, or one per part of a split."""
    known = session.get(DispatchSegment, task.segment_id)
    assert known is not None
    verdict = transcripts_pb2.QaVerdict.FromString(known.verdict)
    segment = versions.get_version(session, task.segment_id, version)
    assert segment is not None
    history = versions.history(session, task.segment_id)
    draft = common_pb2.TranscriptSegment.FromString(history[0].segment)
    merged_drafts = [
        transcripts_pb2.QaVerdict.FromString(row.verdict).draft.segment
        for row in (session.get(DispatchSegment, s) for s in task.merged or [])
        if row is not None
    ]
    message = transcripts_pb2.CorrectedTranscript(
        context=verdict.context,
        segment=segment,
        draft=reshape.joined(draft, merged_drafts),
        version=version,
        history=versions.version_refs(session, task.segment_id),
        task_id=task.task_id,
        corrected_by=corrector,
        reviewed_by=reviewer,
        flags=task.flags or [],  # type: ignore[arg-type]
        notes=task.notes or "",
        verdict=verdict,
        merged_segment_ids=task.merged or [],
    )
    message.verdict.double_blind = task.double_blind_slot > 0
    message.verdict.gold = task.gold
    pieces = [(task.segment_id, message)]
    if task.split_at:
        pieces = []
        for part_id, part, part_draft in reshape.split_parts(message.segment, message.draft, task.split_at):
            piece = transcripts_pb2.CorrectedTranscript()
            piece.CopyFrom(message)
            piece.segment.CopyFrom(part)
            piece.draft.CopyFrom(part_draft)
            piece.split_of = task.segment_id
            pieces.append((part_id, piece))
    out = []
    for segment_id, piece in pieces:
        published = record_and_publish(  # the hop's state (segment_records) follows each segment
            session,
            topic=TRANSCRIPTS_CORRECTED.name,
            segment_id=segment_id,
            recording_id=verdict.context.recording_id,
            state="corrected",
            message=piece,
            source_message_id=task.task_id,
            version=version,
        )
        out.append(replace(published, trace_id=task.trace_id or None))
    return out
