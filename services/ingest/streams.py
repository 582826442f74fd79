"""The ingest service's own tables: one row per stream (its assembly and segmenter state) and
one row per chunk received (digest and blob), so a chunk costs one insert however long the
stream already is.

The database is the system of record between chunks: a restarted or rebalanced ingest instance
picks a stream up exactly where the last committed chunk left it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, LargeBinary, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from services.ingest.reassembly import StreamAssembly, StreamState
from shared.db.tables import Base, utcnow

FAILED = "failed"  # undecodable, empty or too long; beside reassembly.StreamState's states


class IngestStream(Base):
    __tablename__ = "ingest_streams"

    stream_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    recording_id: Mapped[str] = mapped_column(String(200), index=True)
    trace_id: Mapped[str] = mapped_column(String(200))
    context: Mapped[bytes] = mapped_column(LargeBinary)  # RecordingContext
    encoding: Mapped[int] = mapped_column(Integer)  # audio_pb2.AudioEncoding
    sample_rate_hz: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    mime_type: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(32), index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    assembly: Mapped[dict[str, Any]] = mapped_column(JSON)
    segmenter_state: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    segmenter_next: Mapped[int] = mapped_column(Integer, default=0)  # sequences fed into that state
    chunks_received: Mapped[int] = mapped_column(Integer, default=0)
    segments_published: Mapped[int] = mapped_column(Integer, default=0)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    original_uri: Mapped[str] = mapped_column(Text, default="")
    original_sha256: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    def load_assembly(self) -> StreamAssembly:
        return StreamAssembly.from_dict(self.stream_id, self.assembly)

    def store_assembly(self, assembly: StreamAssembly) -> None:
        self.assembly = assembly.to_dict()

    @property
    def ended(self) -> bool:
        return self.state != StreamState.RECEIVING


def lock_stream(session: Session, stream_id: str) -> IngestStream | None:
    """The stream's row, locked for this transaction (PostgreSQL; SQLite locks the whole file)."""
    return session.get(IngestStream, stream_id, with_for_update=True)


class IngestChunk(Base):
    """One accepted chunk: its digest tells a redelivery from a conflict, its blob is the audio."""

    __tablename__ = "ingest_chunks"

    stream_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    uri: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def chunk_digests(session: Session, stream_id: str, sequences: Iterable[int]) -> dict[int, str]:
    """sequence -> digest of those of ``sequences`` already stored: one query for a poll's
    chunks (a query per chunk also flushed the previous chunk's row each time)."""
    query = select(IngestChunk.sequence, IngestChunk.sha256).where(
        IngestChunk.stream_id == stream_id, IngestChunk.sequence.in_(sorted(set(sequences)))
    )
    return {sequence: digest for sequence, digest in session.execute(query)}


def chunk_uris(session: Session, stream_id: str, first: int = 0, stop: int | None = None) -> list[str]:
    """Blob URIs of the stream's chunks with ``first <= sequence < stop``, in sequence order."""
    query = select(IngestChunk.uri).where(IngestChunk.stream_id == stream_id, IngestChunk.sequence >= first)
    if stop is not None:
        query = query.where(IngestChunk.sequence < stop)
    return list(session.scalars(query.order_by(IngestChunk.sequence)))
