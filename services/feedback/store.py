"""The feedback service's own tables: every training example (the latest version of each
segment), the dataset snapshots frozen from them and their membership.

The example row repeats the few fields snapshots, mining and retraining select on; the whole
``TrainingExample`` is in ``payload``.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from protos import events_pb2
from shared.db.tables import Base


class ExampleRow(Base):
    __tablename__ = "feedback_examples"

    segment_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    recording_id: Mapped[str] = mapped_column(String(200), index=True)
    tenant_id: Mapped[str] = mapped_column(String(200), default="")
    domain: Mapped[str] = mapped_column(String(200), default="", index=True)
    language: Mapped[str] = mapped_column(String(16), index=True)
    speaker_id: Mapped[str] = mapped_column(String(400), default="")
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    draft_text: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text)
    corrected: Mapped[bool] = mapped_column(Boolean, default=False)
    labels_reviewed: Mapped[bool] = mapped_column(Boolean, default=False)
    sentiment: Mapped[str] = mapped_column(String(64), default="")
    intent: Mapped[str] = mapped_column(String(64), default="")
    gold: Mapped[bool] = mapped_column(Boolean, default=False)
    evaluation: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[float] = mapped_column(Float, index=True)  # when it was kept (unix seconds)
    payload: Mapped[bytes] = mapped_column(LargeBinary)

    def example(self) -> events_pb2.TrainingExample:
        return events_pb2.TrainingExample.FromString(self.payload)


class SnapshotRow(Base):
    __tablename__ = "feedback_snapshots"

    snapshot_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float)
    language: Mapped[str] = mapped_column(String(16), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    path: Mapped[str] = mapped_column(Text)
    summary: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)  # splits, counts


class SnapshotMember(Base):
    __tablename__ = "feedback_snapshot_members"

    snapshot_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    segment_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    split: Mapped[str] = mapped_column(String(16))
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # the example as frozen: snapshots never change

    def example(self) -> events_pb2.TrainingExample:
        return events_pb2.TrainingExample.FromString(self.payload)


class RetrainRequestRow(Base):
    __tablename__ = "feedback_retrain_requests"

    request_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    model: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16), default="")
    snapshot_id: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(64))
    corrected_hours: Mapped[float] = mapped_column(Float, default=0.0)
    evidence: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[float] = mapped_column(Float, index=True)
