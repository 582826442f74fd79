"""The quality service's own tables: every decode it judged, every correction it measured, the
gold references it keeps to itself, and small named state (calibration, drift, counters).

Everything a report shows is computed from these rows, so a report can be recomputed at any time
and two instances of the service agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.db.tables import Base, utcnow


class QualityAttempt(Base):
    """One decode of a segment (version 1 = first draft, 2 = safe re-decode...) and its checks."""

    __tablename__ = "quality_attempts"

    segment_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[str] = mapped_column(String(200), index=True)
    draft: Mapped[bytes] = mapped_column(LargeBinary)  # DraftTranscript
    fired: Mapped[list[str]] = mapped_column(JSON)  # names of the detectors that fired
    confidence: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QualityRecording(Base):
    """The language a recording's segments are expected in: the producer's hint, else the
    language of its first draft (ASR fixes one language per recording)."""

    __tablename__ = "quality_recordings"

    recording_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    language: Mapped[str] = mapped_column(String(16))
    language_source: Mapped[str] = mapped_column(String(16))  # hint | first_draft


class QualityCorrection(Base):
    """A person's correction of a draft, measured against it (draft = hypothesis)."""

    __tablename__ = "quality_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    segment_id: Mapped[str] = mapped_column(String(200), index=True)
    recording_id: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    task_id: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(16), index=True)
    speaker: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(200))
    linguist: Mapped[str] = mapped_column(String(200), index=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)  # the gate's, when known
    gold: Mapped[bool] = mapped_column(Boolean, default=False)
    double_blind: Mapped[bool] = mapped_column(Boolean, default=False)
    reference_words: Mapped[int] = mapped_column(Integer)
    hits: Mapped[int] = mapped_column(Integer)
    substitutions: Mapped[int] = mapped_column(Integer)
    insertions: Mapped[int] = mapped_column(Integer)
    deletions: Mapped[int] = mapped_column(Integer)
    reference_characters: Mapped[int] = mapped_column(Integer)
    character_errors: Mapped[int] = mapped_column(Integer)
    changes: Mapped[list[list[str]]] = mapped_column(JSON)  # [kind, draft_word, corrected_word]
    corrected_text: Mapped[str] = mapped_column(Text)
    gold_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)  # gold tasks only
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QualityAgreement(Base):
    """Two linguists' independent corrections of one segment, compared (double-blind)."""

    __tablename__ = "quality_agreements"

    segment_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    linguist_a: Mapped[str] = mapped_column(String(200), primary_key=True)
    linguist_b: Mapped[str] = mapped_column(String(200), primary_key=True)
    language: Mapped[str] = mapped_column(String(16), index=True)
    wer: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QualityGold(Base):
    """A segment with a trusted reference; linguists never see the reference."""

    __tablename__ = "quality_gold"

    gold_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    segment_id: Mapped[str] = mapped_column(String(200), index=True)
    language: Mapped[str] = mapped_column(String(16), index=True)
    reference: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200))
    draft: Mapped[bytes] = mapped_column(LargeBinary)  # the DraftTranscript linguists start from
    issued: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QualityGoldTask(Base):
    """A gold segment slipped into the queues under a fresh segment id, so it looks like any other."""

    __tablename__ = "quality_gold_tasks"

    segment_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    gold_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QualityState(Base):
    """Named JSON state: "calibration" (thresholds per language), "drift", "gold_credit"..."""

    __tablename__ = "quality_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


def read_state(session: Session, key: str, default: Any) -> Any:
    row = session.get(QualityState, key)
    return default if row is None else row.value


def write_state(session: Session, key: str, value: Any) -> None:
    """Replace the value; lock the row first with ``lock_state`` when read-modify-write."""
    row = session.get(QualityState, key)
    if row is None:
        session.add(QualityState(key=key, value=value))
    else:
        row.value = value


def lock_state(session: Session, key: str, default: Any) -> Any:
    row = session.get(QualityState, key, with_for_update=True)
    return default if row is None else row.value
