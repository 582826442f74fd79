"""Transcript versions of a segment: every draft, correction and review is a new version, kept
with a readable diff to the one before it."""

from __future__ import annotations

import difflib
import time
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from protos import common_pb2, dispatch_pb2
from services.dispatch.store import DispatchSegment, TranscriptVersionRow


def word_diff(before: common_pb2.TranscriptSegment, after: common_pb2.TranscriptSegment) -> str:
    """Word edits as "-old +new" runs, then timing and speaker edits of words that stayed."""
    a = [w.text.strip() for w in before.words] or before.text.split()
    b = [w.text.strip() for w in after.words] or after.text.split()
    lines: list[str] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                lines += _word_edits(before.words, after.words, i, j)
            continue
        old, new = " ".join(a[i1:i2]), " ".join(b[j1:j2])
        lines.append(
            " ".join(part for part in (f"-[{old}]" if old else "", f"+[{new}]" if new else "") if part)
        )
    return "\n".join(lines)


def _word_edits(
    before: Sequence[common_pb2.Word], after: Sequence[common_pb2.Word], i: int, j: int
) -> list[str]:
    if i >= len(before) or j >= len(after):
        return []  # diffed from text alone: no times or speakers to compare
    wa, wb = before[i], after[j]
    out = []
    if abs(wa.start_s - wb.start_s) > 0.005 or abs(wa.end_s - wb.end_s) > 0.005:
        out.append(f"~[{wb.text.strip()}] {wa.start_s:.2f}-{wa.end_s:.2f} -> {wb.start_s:.2f}-{wb.end_s:.2f}")
    if wa.speaker != wb.speaker:
        out.append(f"~[{wb.text.strip()}] speaker {wa.speaker or '?'} -> {wb.speaker or '?'}")
    return out


def latest(session: Session, segment_id: str) -> TranscriptVersionRow | None:
    return session.scalars(
        select(TranscriptVersionRow)
        .where(TranscriptVersionRow.segment_id == segment_id)
        .order_by(TranscriptVersionRow.version.desc())
        .limit(1)
    ).first()


def add_version(
    session: Session,
    segment: common_pb2.TranscriptSegment,
    kind: str,
    author: str,
    task_id: str = "",
    note: str = "",
    version: int | None = None,
) -> TranscriptVersionRow:
    """Append the next version (or ``version``, for the draft that opens the history).

    The segment's row is locked first: the two halves of a double-blind pair (or one half's
    submit and the other's approval) would otherwise both take "highest + 1" on PostgreSQL."""
    session.scalars(
        select(DispatchSegment.segment_id)
        .where(DispatchSegment.segment_id == segment.segment_id)
        .with_for_update()
    ).first()
    previous = latest(session, segment.segment_id)
    if version is None:
        version = (previous.version if previous else 0) + 1
    diff = word_diff(common_pb2.TranscriptSegment.FromString(previous.segment), segment) if previous else ""
    row = TranscriptVersionRow(
        segment_id=segment.segment_id,
        version=version,
        kind=kind,
        author=author,
        task_id=task_id,
        segment=segment.SerializeToString(),
        diff=diff,
        note=note,
        at=time.time(),
    )
    session.add(row)
    session.flush()
    return row


def get_version(session: Session, segment_id: str, version: int) -> common_pb2.TranscriptSegment | None:
    row = session.get(TranscriptVersionRow, (segment_id, version))
    return common_pb2.TranscriptSegment.FromString(row.segment) if row else None


def history(session: Session, segment_id: str) -> list[TranscriptVersionRow]:
    return list(
        session.scalars(
            select(TranscriptVersionRow)
            .where(TranscriptVersionRow.segment_id == segment_id)
            .order_by(TranscriptVersionRow.version)
        )
    )


def to_message(row: TranscriptVersionRow) -> dispatch_pb2.TranscriptVersion:
    message = dispatch_pb2.TranscriptVersion(
        version=row.version,
        kind=row.kind,
        author=row.author,
        task_id=row.task_id,
        segment=common_pb2.TranscriptSegment.FromString(row.segment),
        diff=row.diff,
        note=row.note,
    )
    message.at.FromNanoseconds(int(row.at * 1e9))
    return message


def version_refs(session: Session, segment_id: str) -> list[common_pb2.VersionRef]:
    return [
        common_pb2.VersionRef(version=r.version, kind=r.kind, diff=r.diff)
        for r in history(session, segment_id)
    ]
