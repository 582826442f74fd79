"""What a person sees of a task: the segment to work on, its neighbours, the draft to diff
against, the model's labels for a label review, and the audio span. Gold audits look like any
other task."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from protos import common_pb2, dispatch_pb2, transcripts_pb2
from services.dispatch import labels, versions
from services.dispatch.rules import LABEL_REVIEW, REVIEW
from services.dispatch.store import DispatchSegment, DispatchTask
from shared.audio import TARGET_RATE_HZ, from_pcm16, to_wav
from shared.blobstore import LocalBlobStore

AUDIO_CHUNK_BYTES = 64 * 1024
MAX_CONTEXT_S = 10.0


def neighbours(session: Session, task: DispatchTask, around: int) -> list[DispatchSegment]:
    me = session.get(DispatchSegment, task.segment_id)
    if me is None or around <= 0:
        return []
    rows = session.scalars(
        select(DispatchSegment)
        .where(
            DispatchSegment.recording_id == me.recording_id,
            DispatchSegment.index.between(me.index - around, me.index + around),
        )
        .order_by(DispatchSegment.index)
    )
    return [r for r in rows if r.segment_id != task.segment_id]


def task_state(task: DispatchTask) -> dispatch_pb2.Task:
    """Where a task stands (state, holder, lease, version, tier, reasons), without its content:
    what an action (submit, review, heartbeat...) answers; ``to_task`` adds the content."""
    message = dispatch_pb2.Task(
        task_id=task.task_id,
        kind=task.kind,  # type: ignore[arg-type]
        state=task.state,  # type: ignore[arg-type]
        assignee=task.assignee,
        priority=task.priority,
        version=task.base_version,
        language=task.language,
        dialect=task.dialect,
        tier=task.tier,
        rejections=task.rejections,
        review_reasons=task.reasons or [],
        flags=task.flags or [],  # type: ignore[arg-type]
        notes=task.notes or "",
        split_at=task.split_at or [],
        merged_segment_ids=task.merged or [],
    )
    if task.lease_expires_at:
        message.lease_expires_at.FromNanoseconds(int(task.lease_expires_at * 1e9))
    message.deadline.FromNanoseconds(int(task.deadline * 1e9))
    message.created_at.FromNanoseconds(int(task.created_at * 1e9))
    return message


def to_task(
    session: Session, task: DispatchTask, guidelines_url: str, context_segments: int
) -> dispatch_pb2.Task:
    """The whole task as a person works it: segment, neighbours, draft, diff, verdict, guidelines."""
    known = session.get(DispatchSegment, task.segment_id)
    verdict = transcripts_pb2.QaVerdict.FromString(known.verdict) if known else transcripts_pb2.QaVerdict()
    verdict.gold = False  # a gold audit must look like any other task
    verdict.double_blind = task.double_blind_slot > 0  # as it is worked (a gold audit is never split)
    segment = versions.get_version(session, task.segment_id, task.base_version) or verdict.draft.segment
    history = versions.history(session, task.segment_id)
    draft = common_pb2.TranscriptSegment.FromString(history[0].segment) if history else verdict.draft.segment
    message = task_state(task)
    message.context.CopyFrom(verdict.context)
    message.segment.CopyFrom(segment)
    message.context_segments.extend(
        _neighbour_segment(session, n) for n in neighbours(session, task, context_segments)
    )
    message.verdict.CopyFrom(verdict)
    message.guidelines_url = guidelines_url
    message.draft.CopyFrom(draft)
    message.diff = versions.word_diff(draft, segment) if task.kind == REVIEW else ""
    if task.kind == LABEL_REVIEW and (annotation := labels.annotation_of(session, task.task_id)):
        message.annotation.CopyFrom(annotation)  # the labels are checked on the annotated words
        message.segment.CopyFrom(annotation.segment)
        message.context.CopyFrom(annotation.context)
    return message


def queue_rows(session: Session, found: Sequence[DispatchTask]) -> list[dispatch_pb2.Task]:
    """Tasks as a queue lists them (``ListQueueRequest.summary``): one query for their segments,
    no words, neighbours, history or evidence."""
    ids = {t.segment_id for t in found}
    rows = {
        r.segment_id: r
        for r in session.scalars(select(DispatchSegment).where(DispatchSegment.segment_id.in_(ids)))
    }
    listed = []
    for task in found:
        message = task_state(task)
        row = rows.get(task.segment_id)
        if row is not None:
            verdict = transcripts_pb2.QaVerdict.FromString(row.verdict)
            segment = (
                versions.get_version(session, task.segment_id, task.base_version) or verdict.draft.segment
            )
            message.context.CopyFrom(verdict.context)
            message.segment.CopyFrom(segment)
            del message.segment.words[:]
            message.verdict.route = verdict.route
            message.verdict.confidence = verdict.confidence
            message.verdict.risk_tier = verdict.risk_tier
        listed.append(message)
    return listed


def _neighbour_segment(session: Session, row: DispatchSegment) -> common_pb2.TranscriptSegment:
    """A neighbour as people should read it: its newest version when people corrected it."""
    latest = versions.latest(session, row.segment_id)
    if latest is not None:
        return common_pb2.TranscriptSegment.FromString(latest.segment)
    return transcripts_pb2.QaVerdict.FromString(row.verdict).draft.segment


def audio_span(
    session: Session, blobs: LocalBlobStore, task: DispatchTask, context_s: float
) -> tuple[bytes, float, float]:
    """The segment's audio as a 16 kHz mono WAV, with up to ``context_s`` of its neighbours' audio
    before and after; returns (wav bytes, start_s, end_s) in recording time."""
    context_s = min(max(context_s, 0.0), MAX_CONTEXT_S)
    rows = [session.get(DispatchSegment, task.segment_id)]
    if context_s > 0:
        rows += neighbours(session, task, 1)
    drafts = [transcripts_pb2.QaVerdict.FromString(r.verdict).draft for r in rows if r is not None]
    if not drafts:  # a label review of an auto-accepted segment: dispatch never held its audio
        return to_wav(np.zeros(0, dtype=np.float32)), 0.0, 0.0
    me = drafts[0]
    start = max(0.0, me.segment.start_s - context_s)
    end = me.segment.end_s + context_s
    pieces = []
    for d in sorted(drafts, key=lambda d: d.segment.start_s):
        if (
            not d.audio.uri
            or d.audio.encoding != "pcm_s16le"
            or d.segment.end_s <= start
            or d.segment.start_s >= end
        ):
            continue
        samples = from_pcm16(blobs.get(d.audio.uri))
        first = int(round((max(start, d.segment.start_s) - d.segment.start_s) * TARGET_RATE_HZ))
        last = int(round((min(end, d.segment.end_s) - d.segment.start_s) * TARGET_RATE_HZ))
        pieces.append(samples[first:last])
    audio = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    return to_wav(audio), start, start + len(audio) / TARGET_RATE_HZ


def chunks(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), AUDIO_CHUNK_BYTES):
        yield data[i : i + AUDIO_CHUNK_BYTES]
