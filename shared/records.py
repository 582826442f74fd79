"""The latest state of a segment in a service: written by handlers, read by servicers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
from google.protobuf.message import Message
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared.db.tables import SegmentRecord, bulk_insert, utcnow
from shared.kafka import codec
from shared.kafka.outbox import Outbound

M = TypeVar("M", bound=Message)


def save_segment_state(
    session: Session,
    *,
    segment_id: str,
    recording_id: str,
    state: str,
    message: Message,
    source_message_id: str,
    version: int = 1,
    known: dict[str, SegmentRecord | None] | None = None,
) -> SegmentRecord:
    """Insert or update the segment's row in the caller's transaction.

    ``known``: rows a batch handler already loaded (``load_records``), so that a batch costs one
    query instead of one per segment; a segment missing from it is looked up as usual."""
    if known is not None and segment_id in known:
        record = known[segment_id]
    else:
        record = session.get(SegmentRecord, segment_id)
    if record is None:
        record = SegmentRecord(segment_id=segment_id)
        session.add(record)
    if known is not None:
        known[segment_id] = record
    record.recording_id = recording_id
    record.state = state
    record.version = version
    record.message_type = message.DESCRIPTOR.full_name
    record.payload = codec.encode(message)
    record.source_message_id = source_message_id
    return record


@dataclass(frozen=True)
class SegmentState:
    """One segment's new state, for ``save_segment_states``."""

    segment_id: str
    recording_id: str
    state: str
    message: Message
    source_message_id: str
    version: int = 1


def save_segment_states(
    session: Session, states: Sequence[SegmentState], known: dict[str, SegmentRecord | None]
) -> None:
    """A batch's segments, each at most once, in the caller's transaction: rows that exist
    (``known`` as ``load_records`` gave it) updated in place, the new ones in one INSERT; an ORM
    object a row cost a batch handler more than its own work."""
    new = []
    for s in states:
        record = known[s.segment_id] if s.segment_id in known else session.get(SegmentRecord, s.segment_id)
        if record is not None:
            save_segment_state(
                session,
                segment_id=s.segment_id,
                recording_id=s.recording_id,
                state=s.state,
                message=s.message,
                source_message_id=s.source_message_id,
                version=s.version,
                known={s.segment_id: record},
            )
            continue
        new.append(
            {
                "segment_id": s.segment_id,
                "recording_id": s.recording_id,
                "state": s.state,
                "version": s.version,
                "message_type": s.message.DESCRIPTOR.full_name,
                "payload": codec.encode(s.message),
                "source_message_id": s.source_message_id,
                "updated_at": utcnow(),
            }
        )
    if new:
        session.execute(bulk_insert(SegmentRecord), new)


def load_records(session: Session, segment_ids: Iterable[str]) -> dict[str, SegmentRecord | None]:
    """The rows of these segments in one query; None for a segment that has none yet."""
    wanted = set(segment_ids)
    found: dict[str, SegmentRecord | None] = dict.fromkeys(wanted)
    if wanted:
        query = select(SegmentRecord).where(SegmentRecord.segment_id.in_(wanted))
        found.update({r.segment_id: r for r in session.scalars(query)})
    return found


def record_and_publish(
    session: Session,
    *,
    topic: str,
    segment_id: str,
    recording_id: str,
    state: str,
    message: Message,
    source_message_id: str,
    version: int = 1,
) -> Outbound:
    """The hop's usual step: keep the segment's new state, publish it keyed by recording.

    Keying by recording keeps one recording's segments in one partition, in order.
    """
    save_segment_state(
        session,
        segment_id=segment_id,
        recording_id=recording_id,
        state=state,
        message=message,
        source_message_id=source_message_id,
        version=version,
    )
    return Outbound(topic, message, key=recording_id)


def load_segment_state(sessions: sessionmaker[Session], segment_id: str, cls: type[M]) -> M | None:
    with sessions() as session:
        record = session.get(SegmentRecord, segment_id)
        if record is None:
            return None
        message = cls()
        message.ParseFromString(record.payload)
        return message


def get_or_abort(
    sessions: sessionmaker[Session], segment_id: str, cls: type[M], context: grpc.ServicerContext
) -> M:
    """The servicers' lookup: INVALID_ARGUMENT for an empty id, NOT_FOUND for an unknown one."""
    if not segment_id:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "segment_id is required")
    found = load_segment_state(sessions, segment_id, cls)
    if found is not None:
        return found
    context.abort(grpc.StatusCode.NOT_FOUND, f"no segment {segment_id!r} in this service")
    raise AssertionError("unreachable: context.abort raises")
