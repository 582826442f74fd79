"""Segments as people cut them: a split turns one segment into parts, a merge absorbs the next
segment of the recording. The segmenter cuts on pauses; people cut on meaning and speakers.

A split is kept as the corrected segment plus where each next part starts (``split_at``), so the
reviewer sees one diff; the parts are published as "<segment>/<n>" only when the review passes.
A merge needs the next segment's correction task still open and free (or held by the merger): it
is closed as merged, and the correction spans both segments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from protos import common_pb2, transcripts_pb2
from services.dispatch.rules import CLAIMED, CORRECT, ESCALATED, QUEUED, Person
from services.dispatch.store import DispatchSegment, DispatchTask
from services.dispatch.tasks import Refused

Validate = Callable[[common_pb2.TranscriptSegment, common_pb2.TranscriptSegment], None]


def combine_parts(
    parts: Sequence[common_pb2.TranscriptSegment], span: common_pb2.TranscriptSegment, validate: Validate
) -> tuple[common_pb2.TranscriptSegment, list[float]]:
    """The parts as one corrected segment, and where each part after the first starts."""
    if len(parts) < 2:
        raise Refused("INVALID_ARGUMENT", "a split needs at least two parts")
    starts: list[float] = []
    previous_end = span.start_s
    for n, part in enumerate(parts, start=1):
        validate(part, span)
        if not part.words:
            raise Refused("INVALID_ARGUMENT", f"parts[{n - 1}] has no words: each part needs its words")
        start = part.start_s if part.start_s > 0 else part.words[0].start_s
        if n > 1:
            if start + 1e-6 < previous_end or start <= (starts[-1] if starts else span.start_s):
                raise Refused(
                    "INVALID_ARGUMENT",
                    f"parts[{n - 1}] starts at {start:.2f} s, before the part before it ends",
                )
            starts.append(start)
        previous_end = part.words[-1].end_s
    whole = common_pb2.TranscriptSegment()
    whole.CopyFrom(span)
    del whole.words[:]
    for part in parts:
        whole.words.extend(part.words)
    whole.text = " ".join(p.text.strip() or " ".join(w.text.strip() for w in p.words) for p in parts)
    return whole, starts


def part_of(
    segment: common_pb2.TranscriptSegment, start_s: float, end_s: float, part_id: str
) -> common_pb2.TranscriptSegment:
    """The words of ``segment`` whose middle lies in [start_s, end_s), as a segment of their own."""
    part = common_pb2.TranscriptSegment()
    part.CopyFrom(segment)
    part.segment_id, part.start_s, part.end_s = part_id, start_s, end_s
    del part.words[:]
    part.words.extend(w for w in segment.words if start_s <= (w.start_s + w.end_s) / 2 < end_s)
    part.text = " ".join(w.text.strip() for w in part.words)
    return part


def split_parts(
    segment: common_pb2.TranscriptSegment, draft: common_pb2.TranscriptSegment, split_at: Sequence[float]
) -> list[tuple[str, common_pb2.TranscriptSegment, common_pb2.TranscriptSegment]]:
    """(part id, corrected part, draft part) for each part of a split segment."""
    bounds = [segment.start_s, *split_at, max(segment.end_s, draft.end_s) + 1e-3]
    out = []
    for n in range(len(bounds) - 1):
        part_id = f"{segment.segment_id}/{n + 1}"
        out.append(
            (
                part_id,
                part_of(segment, bounds[n], bounds[n + 1], part_id),
                part_of(draft, bounds[n], bounds[n + 1], part_id),
            )
        )
    return out


def mergeable(
    session: Session, task: DispatchTask, next_segment_id: str, person: Person
) -> tuple[DispatchTask, transcripts_pb2.DraftTranscript]:
    """The next segment's open correction task and its draft, if it may be merged into ``task``."""
    if task.gold or task.double_blind_slot:
        raise Refused(
            "FAILED_PRECONDITION",
            f"task {task.task_id} cannot merge: gold and double-blind segments stay as cut",
        )
    me = session.get(DispatchSegment, task.segment_id)
    nxt = session.get(DispatchSegment, next_segment_id)
    if me is None or nxt is None or nxt.recording_id != me.recording_id:
        raise Refused(
            "INVALID_ARGUMENT",
            f"merge_next_segment_id {next_segment_id!r} is not a segment of this recording",
        )
    expected = me.index + len(task.merged or []) + 1
    if nxt.index != expected:
        raise Refused(
            "INVALID_ARGUMENT",
            f"segment {next_segment_id!r} is number {nxt.index}; only the next ({expected}) can be merged",
        )
    theirs = session.scalars(
        select(DispatchTask).where(DispatchTask.segment_id == next_segment_id).with_for_update()
    ).all()
    if len(theirs) != 1 or theirs[0].kind != CORRECT or theirs[0].double_blind_slot or theirs[0].gold:
        raise Refused(
            "FAILED_PRECONDITION", f"segment {next_segment_id!r} has no single open correction task to merge"
        )
    other = theirs[0]
    free = other.state in (QUEUED, ESCALATED) or (other.state == CLAIMED and other.assignee == person.subject)
    if not free:
        raise Refused(
            "FAILED_PRECONDITION",
            f"segment {next_segment_id!r} is taken ({other.assignee or 'done'}); merging needs it free",
        )
    return other, transcripts_pb2.QaVerdict.FromString(nxt.verdict).draft


def joined(
    first: common_pb2.TranscriptSegment, later: Sequence[common_pb2.TranscriptSegment]
) -> common_pb2.TranscriptSegment:
    """Drafts of merged segments as one: words in order, the span of all."""
    out = common_pb2.TranscriptSegment()
    out.CopyFrom(first)
    for seg in later:
        out.words.extend(seg.words)
        out.end_s = max(out.end_s, seg.end_s)
        out.text = " ".join(t for t in (out.text.strip(), seg.text.strip()) if t)
    return out
