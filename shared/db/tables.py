"""Tables every service owns in its own database.

- ``inbox``: one row per consumed message id, written in the same transaction as the handler's
  effects, so a redelivered message is recognised and skipped (idempotent consumers).
- ``outbox``: messages to publish, written in that same transaction and relayed to Kafka
  afterwards, so a crash between "saved" and "sent" loses nothing.
- ``segment_records``: the latest state of each segment in this service (the hop's state).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, DateTime, Insert, Integer, LargeBinary, String, Table, insert
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def bulk_insert(model: type[Base]) -> Insert:
    """A Core INSERT of the model's table, for many rows as dicts: the ORM's bulk path spends
    more per row turning them into its own records than the database spends storing them."""
    table = model.__table__
    assert isinstance(table, Table)
    return insert(table)


class Base(DeclarativeBase):
    pass


class InboxEntry(Base):
    __tablename__ = "inbox"

    group_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    topic: Mapped[str] = mapped_column(String(200))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(32))  # handled | dead_lettered
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OutboxEntry(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    topic: Mapped[str] = mapped_column(String(200), index=True)
    key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class SegmentRecord(Base):
    __tablename__ = "segment_records"

    segment_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    recording_id: Mapped[str] = mapped_column(String(200), index=True)
    state: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    message_type: Mapped[str] = mapped_column(String(200))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    source_message_id: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
