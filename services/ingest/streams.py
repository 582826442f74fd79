"""The ingest service's own table: one row per stream, its assembly and segmenter state.

The database is the system of record between chunks: a restarted or rebalanced ingest instance
picks a stream up exactly where the last committed chunk left it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, LargeBinary, String, Text
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
    chunk_uris: Mapped[dict[str, str]] = mapped_column(JSON)  # sequence -> blob uri
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
        a = self.assembly
        ended = a.get("ended")
        return StreamAssembly(
            stream_id=self.stream_id,
            digests={int(k): v for k, v in a.get("digests", {}).items()},
            final_sequence=a.get("final_sequence"),
            next_to_emit=int(a.get("next_to_emit", 0)),
            last_chunk_at_s=float(a.get("last_chunk_at_s", 0.0)),
            ended=StreamState(ended) if ended else None,
        )

    def store_assembly(self, assembly: StreamAssembly) -> None:
        self.assembly = {
            "digests": {str(k): v for k, v in assembly.digests.items()},
            "final_sequence": assembly.final_sequence,
            "next_to_emit": assembly.next_to_emit,
            "last_chunk_at_s": assembly.last_chunk_at_s,
            "ended": assembly.ended.value if assembly.ended else None,
        }

    @property
    def ended(self) -> bool:
        return self.state != StreamState.RECEIVING


def lock_stream(session: Session, stream_id: str) -> IngestStream | None:
    """The stream's row, locked for this transaction (PostgreSQL; SQLite locks the whole file)."""
    return session.get(IngestStream, stream_id, with_for_update=True)
