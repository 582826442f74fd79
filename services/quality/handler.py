"""Topics transcripts.draft.v1 -> transcripts.qa.v1 or transcripts.redecode.v1, and
transcripts.corrected.v1 -> measurements (and quality.alerts.v1): thin adapters over ``gate``
and ``corrections``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from protos import transcripts_pb2
from services.quality.calibration import UNKNOWN_LANGUAGE
from services.quality.corrections import AuditConfig, calibrated_threshold, issue_gold, record_correction
from services.quality.gate import GateConfig, assess, build_verdict, redecode_request, wants_redecode
from services.quality.store import QualityAttempt, QualityRecording
from shared.kafka.consumer import Handler, Inbound, InvalidMessage, require
from shared.kafka.outbox import Outbound
from shared.records import record_and_publish
from shared.service import ServiceContext
from shared.topics import QUALITY_ALERTS, TRANSCRIPTS_QA, TRANSCRIPTS_REDECODE


def expected_language(session: Session, draft: transcripts_pb2.DraftTranscript) -> str:
    """The recording's language: the producer's hint, else its first draft's (kept per recording)."""
    row = session.get(QualityRecording, draft.context.recording_id)
    if row is None:
        hint = draft.context.language_hint
        row = QualityRecording(
            recording_id=draft.context.recording_id,
            language=hint or draft.segment.language,
            language_source="hint" if hint else "first_draft",
        )
        session.add(row)
    return row.language


def make_draft_handler(ctx: ServiceContext, gate: GateConfig, gold_rate: float) -> Handler:
    def handle_draft(session: Session, inbound: Inbound[transcripts_pb2.DraftTranscript]) -> list[Outbound]:
        draft = inbound.message
        require(draft, "segment.segment_id", "context.recording_id")
        if draft.version < 1:
            raise InvalidMessage(f"DraftTranscript {draft.segment.segment_id!r}: version must be >= 1")
        language = expected_language(session, draft)
        assessment = assess(draft, gate, language)
        session.merge(
            QualityAttempt(
                segment_id=draft.segment.segment_id,
                version=draft.version,
                recording_id=draft.context.recording_id,
                draft=draft.SerializeToString(),
                fired=[d.name for d in assessment.fired],
                confidence=assessment.confidence,
            )
        )
        if wants_redecode(assessment, gate):
            return [
                _publish(
                    session,
                    TRANSCRIPTS_REDECODE.name,
                    "redecoding",
                    redecode_request(assessment),
                    draft,
                    inbound,
                )
            ]
        earlier = session.scalars(
            select(QualityAttempt)
            .where(
                QualityAttempt.segment_id == draft.segment.segment_id, QualityAttempt.version < draft.version
            )
            .order_by(QualityAttempt.version)
        ).all()
        attempts = [
            assess(transcripts_pb2.DraftTranscript.FromString(a.draft), gate, language) for a in earlier
        ]
        segment_language = draft.segment.language or language or UNKNOWN_LANGUAGE
        verdict = build_verdict(
            [*attempts, assessment], gate, calibrated_threshold(session, segment_language)
        )
        verdict.provenance.CopyFrom(ctx.provenance(policy=gate.policy.version))
        out = [_publish(session, TRANSCRIPTS_QA.name, "routed", verdict, draft, inbound)]
        if verdict.route == transcripts_pb2.ROUTE_HUMAN_REVIEW:
            gold_draft = issue_gold(session, segment_language, gold_rate)
            if gold_draft is not None:
                gold = build_verdict([assess(gold_draft, gate, gold_draft.segment.language)], gate, None)
                gold.route, gold.gold, gold.double_blind = transcripts_pb2.ROUTE_HUMAN_REVIEW, True, False
                del gold.reasons[:]
                gold.reasons.append("sampled for review")
                gold.provenance.CopyFrom(verdict.provenance)
                out.append(_publish(session, TRANSCRIPTS_QA.name, "routed", gold, gold_draft, inbound))
        return out

    return handle_draft


def _publish(
    session: Session,
    topic: str,
    state: str,
    message: transcripts_pb2.QaVerdict | transcripts_pb2.RedecodeRequest,
    draft: transcripts_pb2.DraftTranscript,
    inbound: Inbound[transcripts_pb2.DraftTranscript],
) -> Outbound:
    return record_and_publish(
        session,
        topic=topic,
        segment_id=draft.segment.segment_id,
        recording_id=draft.context.recording_id,
        state=state,
        message=message,
        source_message_id=inbound.message_id,
        version=draft.version,
    )


def make_corrected_handler(audit: AuditConfig) -> Handler:
    def handle_corrected(
        session: Session, inbound: Inbound[transcripts_pb2.CorrectedTranscript]
    ) -> list[Outbound]:
        message = inbound.message
        require(message, "segment.segment_id", "context.recording_id", "corrected_by")
        alerts = record_correction(session, message, audit)
        return [Outbound(QUALITY_ALERTS.name, alert, key=alert.kind) for alert in alerts]

    return handle_corrected
