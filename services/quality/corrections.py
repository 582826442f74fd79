"""After a person corrected it: measure the draft, the linguist, the model, and the gate.

Each correction is scored against the draft it started from (WER, CER, the changed words) and
kept; from those rows come the WER report (per language, speaker, model version, linguist), the
calibration of the gate's confidence, inter-annotator agreement on double-blind segments, gold
audits of linguists, and drift alerts on the draft WER.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from sqlalchemy.orm import Session

from protos import events_pb2, quality_pb2, transcripts_pb2
from services.quality.calibration import UNKNOWN_LANGUAGE, CalibrationSample, analyse
from services.quality.drift import DriftMonitor, DriftSettings
from services.quality.scoring import (
    Change,
    SegmentScore,
    agreement_wer,
    gold_accuracy,
    score_correction,
    top_confusions,
    wer_report,
)
from services.quality.store import (
    QualityAgreement,
    QualityAttempt,
    QualityCorrection,
    QualityGold,
    QualityGoldTask,
    lock_state,
    read_state,
    write_state,
)
from shared.text import NORMALISATION

GROUPS = ("language", "speaker", "model_version", "linguist", "segment")


@dataclass(frozen=True)
class AuditConfig:
    drift: DriftSettings
    gold_accuracy_threshold: float = 0.9
    min_gold_segments: int = 3  # fewer gold results than this say too little to flag anyone


def _alert(kind: str, message: str, **fields: object) -> events_pb2.QualityAlert:
    at = Timestamp()
    at.GetCurrentTime()
    return events_pb2.QualityAlert(alert_id=uuid.uuid4().hex, kind=kind, message=message, at=at, **fields)  # type: ignore[arg-type]


def record_correction(
    session: Session, message: transcripts_pb2.CorrectedTranscript, config: AuditConfig
) -> list[events_pb2.QualityAlert]:
    """Score and keep one correction; return the alerts it raised."""
    score = score_correction(message)
    language = score.language or UNKNOWN_LANGUAGE
    gold_task = session.get(QualityGoldTask, message.segment.segment_id)
    gold = session.get(QualityGold, gold_task.gold_id) if gold_task is not None else None
    verdict = message.verdict
    row = QualityCorrection(
        segment_id=message.segment.segment_id,
        recording_id=message.context.recording_id,
        version=message.version,
        task_id=message.task_id,
        language=language,
        speaker=message.draft.speaker or message.segment.speaker,
        model_version=_model_version(verdict),
        linguist=message.corrected_by,
        reviewer=message.reviewed_by,
        confidence=verdict.confidence if verdict.ByteSize() else None,
        gold=gold is not None,
        double_blind=verdict.double_blind,
        reference_words=score.reference_words,
        hits=score.hits,
        substitutions=score.substitutions,
        insertions=score.insertions,
        deletions=score.deletions,
        reference_characters=score.reference_characters,
        character_errors=score.character_errors,
        changes=[list(c) for c in score.changes],
        corrected_text=message.segment.text,
        gold_accuracy=gold_accuracy(gold.reference, message.segment.text, language) if gold else None,
    )
    alerts: list[events_pb2.QualityAlert] = []
    if gold is not None:
        session.add(row)
        session.flush()
        alerts += _audit_linguist(session, row.linguist, language, config)
        return alerts  # a gold copy says nothing about the model or the gate
    if row.double_blind:
        _pair_for_agreement(session, row)
    session.add(row)
    empty = DriftMonitor(config.drift).to_dict()  # the first correction ever: no state stored yet
    monitor = DriftMonitor.from_dict(lock_state(session, "drift", empty), config.drift)
    drift = monitor.observe(language, row.model_version, score.errors, score.reference_words)
    write_state(session, "drift", monitor.to_dict())
    if drift is not None:
        alerts.append(
            _alert(
                "drift",
                f"draft WER for {language} / {row.model_version} rose to {drift.current_wer:.3f} "
                f"(baseline {drift.baseline_wer:.3f}, bound {drift.bound_wer:.3f}, {drift.samples} segments)",
                language=language,
                model_version=row.model_version,
                baseline=drift.baseline_wer,
                current=drift.current_wer,
                bound=drift.bound_wer,
                samples=drift.samples,
            )
        )
    return alerts


def _model_version(verdict: transcripts_pb2.QaVerdict) -> str:
    provenance = verdict.draft.provenance
    name = provenance.model_name or "unknown"
    return f"{name}@{provenance.model_version}" if provenance.model_version else name


def _pair_for_agreement(session: Session, row: QualityCorrection) -> None:
    others = session.scalars(
        select(QualityCorrection).where(
            QualityCorrection.segment_id == row.segment_id,
            QualityCorrection.linguist != row.linguist,
            QualityCorrection.gold.is_(False),
        )
    ).all()
    for other in others:
        a, b = sorted((other.linguist, row.linguist))
        if session.get(QualityAgreement, (row.segment_id, a, b)) is None:
            session.add(
                QualityAgreement(
                    segment_id=row.segment_id,
                    linguist_a=a,
                    linguist_b=b,
                    language=row.language,
                    wer=agreement_wer(other.corrected_text, row.corrected_text, row.language),
                )
            )


def _audit_linguist(
    session: Session, linguist: str, language: str, config: AuditConfig
) -> list[events_pb2.QualityAlert]:
    """Flag a linguist whose gold accuracy fell under the threshold (once, until it recovers)."""
    accuracies = list(
        session.scalars(
            select(QualityCorrection.gold_accuracy).where(
                QualityCorrection.linguist == linguist,
                QualityCorrection.language == language,
                QualityCorrection.gold.is_(True),
            )
        )
    )
    key = f"{linguist}|{language}"
    flagged: dict[str, bool] = dict(lock_state(session, "flagged_linguists", {}))
    if len(accuracies) < config.min_gold_segments:
        return []
    mean = sum(a or 0.0 for a in accuracies) / len(accuracies)
    below = mean < config.gold_accuracy_threshold
    was = flagged.get(key, False)
    flagged[key] = below
    write_state(session, "flagged_linguists", flagged)
    if not below or was:
        return []
    return [
        _alert(
            "linguist_gold",
            f"{linguist} ({language}): gold accuracy {mean:.3f} under {config.gold_accuracy_threshold:.3f} "
            f"over {len(accuracies)} gold segments",
            language=language,
            linguist=linguist,
            current=mean,
            bound=config.gold_accuracy_threshold,
            samples=len(accuracies),
        )
    ]


def calibration_samples(session: Session, language: str = "") -> list[CalibrationSample]:
    """Corrections of drafts whose gate confidence is known (gold copies left out)."""
    query = select(QualityCorrection).where(
        QualityCorrection.gold.is_(False), QualityCorrection.confidence.is_not(None)
    )
    if language:
        query = query.where(QualityCorrection.language == language)
    return [
        CalibrationSample(
            min(1.0, max(0.0, r.confidence or 0.0)),
            _score(r).wer,
            r.reference_words,
            r.language,
        )
        for r in session.scalars(query)
    ]


def refresh_thresholds(session: Session, target_residual_wer: float, min_samples: int) -> dict[str, float]:
    """Re-fit the calibration and keep each language's auto-accept threshold, once it has
    ``min_samples`` corrections; the routing policy's "calibrated" rules read them."""
    results = analyse(calibration_samples(session), target_residual_wer)
    thresholds = {
        r.language: r.auto_accept.threshold for r in results if r.language and r.samples >= min_samples
    }
    write_state(
        session, "calibration", {"target_residual_wer": target_residual_wer, "thresholds": thresholds}
    )
    return thresholds


def calibrated_threshold(session: Session, language: str) -> float | None:
    value = read_state(session, "calibration", {}).get("thresholds", {}).get(language)
    return float(value) if value is not None else None


def _score(row: QualityCorrection) -> SegmentScore:
    return SegmentScore(
        row.language,
        row.reference_words,
        row.hits,
        row.substitutions,
        row.insertions,
        row.deletions,
        row.reference_characters,
        row.character_errors,
        tuple(Change(*c) for c in row.changes),  # type: ignore[arg-type]
    )


def build_wer_report(session: Session, group_by: str, top: int = 10) -> quality_pb2.WerReport:
    if group_by not in GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPS)}, not {group_by!r}")
    rows = session.scalars(select(QualityCorrection).where(QualityCorrection.gold.is_(False))).all()
    keyed = [(str(getattr(r, "segment_id" if group_by == "segment" else group_by)), _score(r)) for r in rows]
    report = wer_report(keyed)
    confusions = top_confusions((s for _, s in keyed), top or 10)
    for kind, pairs in (
        ("substitution", confusions.substitutions),
        ("insertion", [((w, ""), n) for w, n in confusions.insertions]),
        ("deletion", [(("", w), n) for w, n in confusions.deletions]),
    ):
        for (draft_word, corrected_word), count in pairs:
            report.top_changes.add(
                kind=kind, draft_word=draft_word, corrected_word=corrected_word, count=count
            )
    return report


def build_linguist_report(session: Session, language: str, config: AuditConfig) -> quality_pb2.LinguistReport:
    query = select(QualityCorrection)
    if language:
        query = query.where(QualityCorrection.language == language)
    stats: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    words: dict[tuple[str, str], list[SegmentScore]] = defaultdict(list)
    for r in session.scalars(query):
        key = (r.linguist, r.language)
        if r.gold:
            stats[key]["gold"].append(r.gold_accuracy or 0.0)
        else:
            words[key].append(_score(r))
    agreements = select(QualityAgreement)
    if language:
        agreements = agreements.where(QualityAgreement.language == language)
    for a in session.scalars(agreements):
        for linguist in (a.linguist_a, a.linguist_b):
            stats[(linguist, a.language)]["agreement"].append(a.wer)
    report = quality_pb2.LinguistReport(
        gold_accuracy_threshold=config.gold_accuracy_threshold, normalisation=NORMALISATION
    )
    for linguist, lang in sorted(set(stats) | set(words)):
        scored = words.get((linguist, lang), [])
        errors = sum(s.errors for s in scored)
        reference = sum(s.reference_words for s in scored)
        gold = stats[(linguist, lang)]["gold"]
        agreement = stats[(linguist, lang)]["agreement"]
        gold_mean = sum(gold) / len(gold) if gold else 0.0
        report.rows.add(
            linguist=linguist,
            language=lang,
            corrected_segments=len(scored),
            draft_wer=errors / reference if reference else 0.0,
            gold_segments=len(gold),
            gold_accuracy=gold_mean,
            flagged=len(gold) >= config.min_gold_segments and gold_mean < config.gold_accuracy_threshold,
            agreement_pairs=len(agreement),
            agreement_wer=sum(agreement) / len(agreement) if agreement else 0.0,
        )
    return report


def add_gold(session: Session, segment_id: str, reference: str, source: str) -> quality_pb2.GoldSegment:
    """Keep a trusted reference for a segment the gate has judged; its latest draft is the task."""
    attempt = session.scalars(
        select(QualityAttempt)
        .where(QualityAttempt.segment_id == segment_id)
        .order_by(QualityAttempt.version.desc())
    ).first()
    if attempt is None:
        raise LookupError(f"no draft of segment {segment_id!r} has reached the quality gate")
    if not reference.strip():
        raise ValueError("the gold reference is empty")
    draft = transcripts_pb2.DraftTranscript.FromString(attempt.draft)
    language = draft.segment.language or draft.context.language_hint or UNKNOWN_LANGUAGE
    gold = QualityGold(
        gold_id=uuid.uuid4().hex,
        segment_id=segment_id,
        language=language,
        reference=reference.strip(),
        source=source,
        draft=attempt.draft,
        issued=0,
    )
    session.add(gold)
    return quality_pb2.GoldSegment(
        gold_id=gold.gold_id, segment_id=segment_id, language=language, reference_words=len(reference.split())
    )


def issue_gold(session: Session, language: str, rate: float) -> transcripts_pb2.DraftTranscript | None:
    """Every ``1/rate`` human-review verdicts in a language, one gold segment of that language goes
    out as well, under a fresh segment id, so linguists cannot tell it from real work."""
    if rate <= 0:
        return None
    credits: dict[str, float] = dict(lock_state(session, "gold_credit", {}))
    credits[language] = credits.get(language, 0.0) + rate
    gold = None
    if credits[language] >= 1.0 - 1e-9:  # ten additions of 0.1 make 0.9999999999999999
        gold = session.scalars(
            select(QualityGold)
            .where(QualityGold.language == language)
            .order_by(QualityGold.issued, QualityGold.gold_id)
        ).first()  # none in this language yet: the credit waits for one
    if gold is not None:
        credits[language] -= 1.0
    else:
        credits[language] = min(credits[language], 1.0)  # no burst when gold arrives later
    write_state(session, "gold_credit", credits)
    if gold is None:
        return None
    gold.issued += 1
    draft = transcripts_pb2.DraftTranscript.FromString(gold.draft)
    # A fresh recording id in the shape of a stream id, and the segment id ingest would give its
    # first segment: nothing in the ids tells the copy from real work.
    recording_id = uuid.uuid4().hex[:16]
    draft.context.recording_id = recording_id
    draft.context.stream_id = recording_id
    draft.segment.segment_id = f"{recording_id}:000000"
    draft.segment.index = 0
    session.add(QualityGoldTask(segment_id=draft.segment.segment_id, gold_id=gold.gold_id))
    return draft
