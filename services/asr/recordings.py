"""The ASR service's own table: what it keeps per recording across that recording's segments.

Language (detected once, then fixed) and the recording's speakers (CAM++ centroids) must be the
same whichever instance drafts the next segment, so they live in the database, not in memory.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.db.tables import Base, utcnow


class AsrRecording(Base):
    __tablename__ = "asr_recordings"

    recording_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    language: Mapped[str] = mapped_column(String(16), default="")
    language_probability: Mapped[float] = mapped_column(Float, default=0.0)
    language_source: Mapped[str] = mapped_column(String(16), default="")  # hint | detected
    speakers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # SpeakerRegistry.to_dict()
    segments_drafted: Mapped[int] = mapped_column(Integer, default=0)
    ended: Mapped[str] = mapped_column(String(32), default="")  # the last segment's end_reason
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


def lock_recording(session: Session, recording_id: str) -> AsrRecording:
    row = session.get(AsrRecording, recording_id, with_for_update=True)
    if row is None:
        row = AsrRecording(
            recording_id=recording_id,
            language="",
            language_probability=0.0,
            language_source="",
            speakers={},
            segments_drafted=0,
            ended="",
        )
        session.add(row)
    return row
