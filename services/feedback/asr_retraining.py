"""When the ASR model should be fine-tuned: enough newly corrected speech, or drift seen by the
quality gate. Either way a fresh snapshot is frozen and a ``RetrainingRequest`` names it; the
recipe that consumes it is docs/asr-finetuning.md."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from protos import common_pb2, events_pb2
from services.feedback import catalog
from services.feedback.store import ExampleRow, RetrainRequestRow
from shared.kafka import codec
from shared.kafka.outbox import Outbound
from shared.topics import TRAINING_RETRAIN


def _last_request_at(session: Session) -> float:
    last = session.scalar(select(func.max(RetrainRequestRow.at)).where(RetrainRequestRow.model == "asr"))
    return float(last or 0.0)


def corrected_hours_since(session: Session, since: float) -> float:
    """Hours of speech people corrected (the text changed) kept after ``since``."""
    seconds = session.scalar(
        select(func.coalesce(func.sum(ExampleRow.duration_s), 0.0)).where(
            ExampleRow.corrected.is_(True), ExampleRow.at > since
        )
    )
    return float(seconds or 0.0) / 3600


def request_retraining(
    session: Session,
    datasets_dir: Path,
    *,
    reason: str,
    evidence: str,
    corrected_hours: float,
    threshold_hours: float,
    provenance: common_pb2.Provenance,
    language: str = "",
) -> list[Outbound]:
    """Freeze a snapshot and ask for a fine-tuning run on it; nothing when there is no data."""
    try:
        snapshot = catalog.create_snapshot(
            session, datasets_dir, language=language, note=f"asr retraining: {reason}"
        )
    except catalog.EmptySnapshot:
        return []
    request = events_pb2.RetrainingRequest(
        request_id=codec.new_id(),
        model="asr",
        language=language,
        snapshot_id=snapshot.snapshot_id,
        reason=reason,
        corrected_hours=corrected_hours,
        threshold_hours=threshold_hours,
        evidence=evidence,
        provenance=provenance,
    )
    session.add(
        RetrainRequestRow(
            request_id=request.request_id,
            model="asr",
            language=language,
            snapshot_id=snapshot.snapshot_id,
            reason=reason,
            corrected_hours=corrected_hours,
            evidence=evidence,
            at=time.time(),
        )
    )
    return [Outbound(TRAINING_RETRAIN.name, request, key="asr")]


def check_corrected_hours(
    session: Session, datasets_dir: Path, threshold_hours: float, provenance: common_pb2.Provenance
) -> list[Outbound]:
    hours = corrected_hours_since(session, _last_request_at(session))
    if hours < threshold_hours:
        return []
    return request_retraining(
        session,
        datasets_dir,
        reason="corrected_hours",
        evidence=f"{hours:.2f} h of newly corrected speech (threshold {threshold_hours:g} h)",
        corrected_hours=hours,
        threshold_hours=threshold_hours,
        provenance=provenance,
    )


def on_drift(
    session: Session,
    alert: events_pb2.QualityAlert,
    datasets_dir: Path,
    threshold_hours: float,
    provenance: common_pb2.Provenance,
) -> list[Outbound]:
    """A drift alert (draft WER rising against corrections) asks for retraining at once."""
    if alert.kind != "drift":
        return []
    return request_retraining(
        session,
        datasets_dir,
        reason="drift",
        evidence=alert.message or f"draft WER {alert.current:.3f} above bound {alert.bound:.3f}",
        corrected_hours=corrected_hours_since(session, _last_request_at(session)),
        threshold_hours=threshold_hours,
        provenance=provenance,
        language=alert.language,
    )
