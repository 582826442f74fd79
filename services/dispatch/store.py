"""The dispatch service's tables: tasks (and the labels a label review checks), people and their
tokens, transcript versions, and the append-only audit trail.

Times that rules compare (leases, deadlines) are epoch seconds in floats: SQLite keeps no time
zone, and a lease check must read the same on both databases.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.tables import Base, BigId


class DispatchSegment(Base):
    """Every judged segment of a recording, human-routed or not: the read-only context of a task."""

    __tablename__ = "dispatch_segments"

    segment_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    recording_id: Mapped[str] = mapped_column(String(200), index=True)
    index: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[bytes] = mapped_column(LargeBinary)  # QaVerdict (its draft inside)
    version: Mapped[int] = mapped_column(Integer)  # newest transcript version of the segment
    created_at: Mapped[float] = mapped_column(Float)


class DispatchTask(Base):
    """One unit of human work on a segment. ``row_version`` guards every state change: an update
    that finds another version lost a race and changes nothing."""

    __tablename__ = "dispatch_tasks"

    task_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    segment_id: Mapped[str] = mapped_column(String(200), index=True)
    recording_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[int] = mapped_column(Integer)  # events_pb2.TaskKind
    state: Mapped[int] = mapped_column(Integer, index=True)  # events_pb2.TaskState
    tier: Mapped[str] = mapped_column(String(32))  # the role that works it now
    language: Mapped[str] = mapped_column(String(16))
    dialect: Mapped[str] = mapped_column(String(32), default="")
    domain: Mapped[str] = mapped_column(String(64), default="")
    tenant_id: Mapped[str] = mapped_column(String(200), default="")
    priority: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    assignee: Mapped[str] = mapped_column(String(200), default="")
    lease_expires_at: Mapped[float] = mapped_column(Float, default=0.0)
    # Transcript version this task works from (the draft for a correction, the correction for a review).
    base_version: Mapped[int] = mapped_column(Integer)
    worked_by: Mapped[list[str]] = mapped_column(JSON, default=list)  # everyone who ever claimed it
    skipped_by: Mapped[list[str]] = mapped_column(JSON, default=list)
    rejections: Mapped[int] = mapped_column(Integer, default=0)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)  # last send-back / escalation
    double_blind_slot: Mapped[int] = mapped_column(Integer, default=0)  # 0, or 1/2 of a pair
    gold: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_task_id: Mapped[str] = mapped_column(String(200), default="")  # the correction a review checks
    flags: Mapped[list[int]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    trace_id: Mapped[str] = mapped_column(String(64), default="")
    split_at: Mapped[list[float]] = mapped_column(JSON, default=list)  # a submitted split (s)
    merged: Mapped[list[str]] = mapped_column(
        JSON, default=list
    )  # segments merged into this one  # the segment's, through human work
    row_version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": row_version}  # noqa: RUF012 - SQLAlchemy's own form


class DispatchAnnotation(Base):
    """The model's labels a label-review task checks (``AnnotatedTranscript``), kept beside the
    task rather than on its row: claims read task rows by the dozen and need none of this."""

    __tablename__ = "dispatch_annotations"

    task_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    segment_id: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)  # the annotated transcript version
    annotation: Mapped[bytes] = mapped_column(LargeBinary)  # AnnotatedTranscript
    created_at: Mapped[float] = mapped_column(Float)


class DispatchUser(Base):
    __tablename__ = "dispatch_users"

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class DispatchToken(Base):
    """A token's sha256 only: the token itself is shown once, when issued."""

    __tablename__ = "dispatch_tokens"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(200), index=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, default=0.0)  # 0: never
    revoked_at: Mapped[float] = mapped_column(Float, default=0.0)  # 0: valid


class TranscriptVersionRow(Base):
    """Each draft, correction and review of a segment, with its word diff to the previous one."""

    __tablename__ = "dispatch_versions"

    segment_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # draft | correction | review
    author: Mapped[str] = mapped_column(String(200))
    task_id: Mapped[str] = mapped_column(String(200), default="")
    segment: Mapped[bytes] = mapped_column(LargeBinary)  # TranscriptSegment
    diff: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[float] = mapped_column(Float)


class AuditRow(Base):
    """Append-only: rows are inserted, never updated or deleted (the service has no code that does)."""

    __tablename__ = "dispatch_audit"

    entry_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float, index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(64))
    task_id: Mapped[str] = mapped_column(String(200), index=True, default="")
    allowed: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(32))
    before: Mapped[str] = mapped_column(Text, default="")
    after: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(16), default="")  # for scoped queue watching
