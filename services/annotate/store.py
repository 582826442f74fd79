"""The annotate service's own table: the labels people reviewed, kept as training data for the
sentiment, intent and entity models (the feedback loop's input)."""

from __future__ import annotations

from sqlalchemy import JSON, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.tables import Base


class ReviewedLabels(Base):
    __tablename__ = "annotate_reviewed_labels"

    segment_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[str] = mapped_column(String(200), index=True)
    tenant_id: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(16), index=True)
    text: Mapped[str] = mapped_column(Text)
    sentiment: Mapped[str] = mapped_column(String(64), default="")
    intent: Mapped[str] = mapped_column(String(64), default="")
    model_sentiment: Mapped[str] = mapped_column(String(64), default="")  # what the model said
    model_intent: Mapped[str] = mapped_column(String(64), default="")
    entities: Mapped[list[list[object]]] = mapped_column(JSON, default=list)  # [start, end, label]
    reviewed_by: Mapped[str] = mapped_column(String(200))
    task_id: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[float] = mapped_column(Float)
