"""The quality service after a person corrected a draft, on a real database (SQLite and
PostgreSQL): WER/CER per group, double-blind agreement, gold audits of linguists, drift alerts,
the per-language calibration the routing policy reads, and the draft handler end to end."""

from __future__ import annotations

from pathlib import Path

import jiwer
import pytest
from sqlalchemy import func, select

from protos import common_pb2, events_pb2, transcripts_pb2
from services.quality.__main__ import MIGRATIONS
from services.quality.corrections import (
    AuditConfig,
    add_gold,
    build_linguist_report,
    build_wer_report,
    calibrated_threshold,
    calibration_samples,
    issue_gold,
    record_correction,
    refresh_thresholds,
)
from services.quality.drift import DriftSettings
from services.quality.gate import GateConfig
from services.quality.handler import make_draft_handler
from services.quality.phrases import load_phrases
from services.quality.policy import load_policy
from services.quality.settings import QualitySettings
from services.quality.store import (
    QualityAgreement,
    QualityAttempt,
    QualityCorrection,
    QualityGold,
    QualityGoldTask,
)
from shared.kafka.consumer import Inbound, InvalidMessage
from shared.kafka.outbox import Outbound
from shared.service import ServiceContext, build_context
from shared.topics import TRANSCRIPTS_DRAFT

pytestmark = pytest.mark.integration

QUIET_DRIFT = DriftSettings()  # 50 segments before any alert: none in the tests that do not look
AUDIT = AuditConfig(drift=QUIET_DRIFT, gold_accuracy_threshold=0.9, min_gold_segments=3)
GATE = GateConfig(policy=load_policy(), phrases=load_phrases())
CLEAN_TEXT = "Thanks for calling Acme support, my name is Dana. How can I help you today?"
REFERENCE = "the quick brown fox jumps over the lazy dog"


@pytest.fixture
def ctx(tmp_path: Path, db_url: str) -> ServiceContext:
    return build_context(QualitySettings(data_dir=tmp_path / "data", database_url=db_url), [MIGRATIONS])


# --- building messages as the other services send them ---


def make_draft(
    segment_id: str = "rec-1:000001",
    *,
    version: int = 1,
    text: str = CLEAN_TEXT,
    probability: float = 0.97,
    appended: str = "",
) -> transcripts_pb2.DraftTranscript:
    """ASR's draft: words inside the voice activity (0.3-6 s), ``appended`` ones at 8 s in silence."""
    timed = [(w, 0.5 + i * 0.35) for i, w in enumerate(text.split())]
    timed += [(w, 8.0 + i * 0.35) for i, w in enumerate(appended.split())]
    recording_id = segment_id.split(":")[0]
    return transcripts_pb2.DraftTranscript(
        context=common_pb2.RecordingContext(
            recording_id=recording_id, tenant_id="acme", domain="support", language_hint="en"
        ),
        segment=common_pb2.TranscriptSegment(
            segment_id=segment_id,
            start_s=0.0,
            end_s=10.0,
            text=" ".join(w for w, _ in timed),
            words=[
                common_pb2.Word(text=f" {w}", start_s=s, end_s=s + 0.3, probability=probability)
                for w, s in timed
            ],
            speaker="SPEAKER_00",
            language="en",
            avg_logprob=-0.12,
            no_speech_prob=0.02,
            compression_ratio=1.4,
        ),
        audio=common_pb2.AudioRef(uri=f"file:///blobs/{recording_id}.wav", duration_s=10.0),
        version=version,
        provenance=common_pb2.Provenance(service="asr", model_name="whisper-base", model_version="v1"),
        voice_activity=[common_pb2.SpeechSpan(start_s=0.3, end_s=6.0)],
        decode_profile="default" if version == 1 else "safe",
    )


def correction(
    segment_id: str,
    draft: str,
    corrected: str,
    linguist: str,
    *,
    language: str = "en",
    speaker: str = "SPEAKER_00",
    model_version: str = "v1",
    confidence: float = 0.9,
    double_blind: bool = False,
) -> transcripts_pb2.CorrectedTranscript:
    recording_id = segment_id.split(":")[0]
    context = common_pb2.RecordingContext(recording_id=recording_id, tenant_id="acme", language_hint=language)
    draft_segment = common_pb2.TranscriptSegment(
        segment_id=segment_id, text=draft, speaker=speaker, language=language
    )
    return transcripts_pb2.CorrectedTranscript(
        context=context,
        segment=common_pb2.TranscriptSegment(
            segment_id=segment_id, text=corrected, speaker=speaker, language=language
        ),
        draft=draft_segment,
        version=3,
        task_id=f"task-{segment_id}-{linguist}",
        corrected_by=linguist,
        reviewed_by="rita",
        verdict=transcripts_pb2.QaVerdict(
            context=context,
            draft=transcripts_pb2.DraftTranscript(
                context=context,
                segment=draft_segment,
                version=1,
                provenance=common_pb2.Provenance(model_name="whisper-base", model_version=model_version),
            ),
            route=transcripts_pb2.ROUTE_HUMAN_REVIEW,
            confidence=confidence,
            double_blind=double_blind,
        ),
    )


def record(
    ctx: ServiceContext, message: transcripts_pb2.CorrectedTranscript, audit: AuditConfig = AUDIT
) -> list[events_pb2.QualityAlert]:
    with ctx.unit_of_work() as (session, _):
        return record_correction(session, message, audit)


def inbound(draft: transcripts_pb2.DraftTranscript, n: int = 0) -> Inbound[transcripts_pb2.DraftTranscript]:
    return Inbound(
        message=draft,
        message_id=f"msg-{draft.segment.segment_id}-v{draft.version}-{n}",
        trace_id="trace-1",
        topic=TRANSCRIPTS_DRAFT.name,
        partition=0,
        offset=n,
        key=draft.context.recording_id.encode(),
    )


def seed_attempt(ctx: ServiceContext, draft: transcripts_pb2.DraftTranscript) -> None:
    """A decode the gate has judged, as the draft handler stores it."""
    with ctx.unit_of_work() as (session, _):
        session.add(
            QualityAttempt(
                segment_id=draft.segment.segment_id,
                version=draft.version,
                recording_id=draft.context.recording_id,
                draft=draft.SerializeToString(),
                fired=[],
                confidence=0.9,
            )
        )


def gold_tasks(ctx: ServiceContext, reference: str, count: int) -> list[str]:
    """``count`` gold copies of one judged segment, as issued into the queues: their segment ids."""
    seed_attempt(ctx, make_draft("rec-gold:000001", text=reference))
    with ctx.unit_of_work() as (session, _):
        add_gold(session, "rec-gold:000001", reference, "sample.stm")
    ids = []
    for _ in range(count):
        with ctx.unit_of_work() as (session, _):
            issued = issue_gold(session, "en", rate=1.0)
            assert issued is not None
            ids.append(issued.segment.segment_id)
    return ids


# --- WER and the reports ---


def test_a_correction_is_scored_like_jiwer_scores_it(ctx: ServiceContext) -> None:
    draft = "Uh, the quick brown fox jumped over lazy dog"
    corrected = "The quick brown fox jumps over the lazy dog."
    assert record(ctx, correction("rec-1:000001", draft, corrected, "alice")) == []

    hypothesis = "uh the quick brown fox jumped over lazy dog"  # both normalised by hand
    words = jiwer.process_words(REFERENCE, hypothesis)
    characters = jiwer.process_characters(REFERENCE, hypothesis)
    with ctx.sessions() as session:
        row = session.scalars(select(QualityCorrection)).one()
    assert (row.hits, row.substitutions, row.insertions, row.deletions) == (
        words.hits,
        words.substitutions,
        words.insertions,
        words.deletions,
    )
    assert (row.hits, row.substitutions, row.insertions, row.deletions) == (7, 1, 1, 1)
    assert row.reference_words == 9
    assert row.reference_characters == len(REFERENCE)
    assert row.character_errors == characters.substitutions + characters.insertions + characters.deletions
    assert sorted(map(tuple, row.changes)) == [
        ("deletion", "", "the"),
        ("insertion", "uh", ""),
        ("substitution", "jumped", "jumps"),
    ]
    assert row.language == "en" and row.linguist == "alice" and row.reviewer == "rita"
    assert row.model_version == "whisper-base@v1" and row.confidence == pytest.approx(0.9)
    assert not row.gold and row.gold_accuracy is None


def test_the_wer_report_groups_corrections_and_lists_the_commonest_changes(ctx: ServiceContext) -> None:
    record(
        ctx, correction("rec-1:000001", "the quick brown fox jumped over the lazy dog", REFERENCE, "alice")
    )
    record(
        ctx,
        correction(
            "rec-1:000002",
            "she jumped at the chance",
            "she jumps at the chance",
            "bob",
            speaker="SPEAKER_01",
        ),
    )
    record(
        ctx,
        correction(
            "rec-2:000001",
            "bonjour tout le monde",
            "bonjour à tout le monde",
            "bob",
            language="fr",
            model_version="v2",
        ),
    )
    with ctx.sessions() as session:
        by_language = build_wer_report(session, "language")
        by_linguist = build_wer_report(session, "linguist")
        by_speaker = build_wer_report(session, "speaker")
        by_model = build_wer_report(session, "model_version")
        by_segment = build_wer_report(session, "segment", top=1)
        with pytest.raises(ValueError, match="group_by must be one of language, speaker") as unknown:
            build_wer_report(session, "tenant")
    assert "'tenant'" in str(unknown.value)

    rows = {r.group: r for r in by_language.rows}
    assert list(rows) == ["en", "fr"]
    assert rows["en"].segments == 2 and rows["en"].substitutions == 2
    assert rows["en"].wer == pytest.approx(2 / 14)  # corpus-level: 2 errors over 9 + 5 words
    assert rows["fr"].segments == 1 and rows["fr"].deletions == 1 and rows["fr"].wer == pytest.approx(1 / 5)
    assert by_language.normalisation

    assert {r.group: (r.segments, round(r.wer, 4)) for r in by_linguist.rows} == {
        "alice": (1, round(1 / 9, 4)),
        "bob": (2, round(2 / 10, 4)),
    }
    assert {r.group: r.segments for r in by_speaker.rows} == {"SPEAKER_00": 2, "SPEAKER_01": 1}
    assert {r.group: r.segments for r in by_model.rows} == {"whisper-base@v1": 2, "whisper-base@v2": 1}
    assert [r.group for r in by_segment.rows] == ["rec-1:000001", "rec-1:000002", "rec-2:000001"]

    changes = [(c.kind, c.draft_word, c.corrected_word, c.count) for c in by_language.top_changes]
    assert changes == [("substitution", "jumped", "jumps", 2), ("deletion", "", "à", 1)]
    assert len([c for c in by_segment.top_changes if c.kind == "substitution"]) == 1  # top=1


# --- double-blind agreement ---


def test_two_linguists_on_one_segment_make_one_agreement_pair(ctx: ServiceContext) -> None:
    draft = "the quick brown fox jumped over the lazy dog"
    record(ctx, correction("rec-3:000001", draft, REFERENCE, "alice", double_blind=True))
    record(
        ctx,
        correction(
            "rec-3:000001", draft, "the quick brown fox jumps over a lazy dog", "bob", double_blind=True
        ),
    )
    record(ctx, correction("rec-3:000001", draft, REFERENCE, "alice", double_blind=True))  # resubmitted

    with ctx.sessions() as session:
        pairs = session.scalars(select(QualityAgreement)).all()
        report = build_linguist_report(session, "en", AUDIT)
    assert [(p.segment_id, p.linguist_a, p.linguist_b, p.language) for p in pairs] == [
        ("rec-3:000001", "alice", "bob", "en")
    ]
    assert pairs[0].wer == pytest.approx(1 / 9)  # one word of nine differs, either way round

    rows = {r.linguist: r for r in report.rows}
    assert set(rows) == {"alice", "bob"}
    assert rows["alice"].agreement_pairs == rows["bob"].agreement_pairs == 1
    assert rows["alice"].agreement_wer == pytest.approx(1 / 9)
    assert rows["alice"].corrected_segments == 2 and rows["bob"].corrected_segments == 1
    assert rows["bob"].draft_wer == pytest.approx(2 / 9)  # jumped -> jumps, the -> a
    assert not rows["alice"].flagged and rows["alice"].gold_segments == 0


def test_corrections_not_sampled_double_blind_are_not_paired(ctx: ServiceContext) -> None:
    draft = "the quick brown fox jumped over the lazy dog"
    record(ctx, correction("rec-3:000002", draft, REFERENCE, "alice"))
    record(ctx, correction("rec-3:000002", draft, REFERENCE, "bob"))
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(QualityAgreement)) == 0


# --- gold audits ---


def test_gold_segments_go_out_at_the_rate_under_fresh_segment_ids(ctx: ServiceContext) -> None:
    original = make_draft("rec-9:000004", text=REFERENCE)
    seed_attempt(ctx, make_draft("rec-9:000004", text="the quick brown fox jumped"))
    seed_attempt(ctx, make_draft("rec-9:000004", version=2, text=REFERENCE))
    with ctx.unit_of_work() as (session, _):
        with pytest.raises(LookupError, match="rec-9:000099"):
            add_gold(session, "rec-9:000099", REFERENCE, "sample.stm")
        with pytest.raises(ValueError, match="empty"):
            add_gold(session, "rec-9:000004", "   ", "sample.stm")
        gold = add_gold(session, "rec-9:000004", f" {REFERENCE} ", "sample.stm")
    assert gold.segment_id == "rec-9:000004" and gold.language == "en" and gold.reference_words == 9

    issued: list[transcripts_pb2.DraftTranscript | None] = []
    for _ in range(4):
        with ctx.unit_of_work() as (session, _):
            issued.append(issue_gold(session, "en", rate=0.5))
    assert issued[0] is None and issued[2] is None
    first, second = issued[1], issued[3]
    assert first is not None and second is not None
    assert first.segment.segment_id != second.segment.segment_id
    for task in (first, second):
        # A fresh recording, shaped like any stream: nothing in the ids gives the copy away.
        recording = task.context.recording_id
        assert recording != "rec-9" and task.segment.segment_id == f"{recording}:000000"
        assert "gold" not in task.SerializeToString().decode("utf-8", "replace").lower()
        assert task.version == 2 and task.segment.text == original.segment.text  # the latest draft
    with ctx.sessions() as session:
        tasks = session.scalars(select(QualityGoldTask).order_by(QualityGoldTask.segment_id)).all()
        stored = session.get(QualityGold, gold.gold_id)
        assert stored is not None and stored.issued == 2 and stored.reference == REFERENCE
    assert sorted(t.segment_id for t in tasks) == sorted(
        [first.segment.segment_id, second.segment.segment_id]
    )
    assert {t.gold_id for t in tasks} == {gold.gold_id}


def test_gold_is_issued_every_tenth_review_at_a_rate_of_a_tenth(ctx: ServiceContext) -> None:
    seed_attempt(ctx, make_draft("rec-9:000005", text=REFERENCE))
    with ctx.unit_of_work() as (session, _):
        add_gold(session, "rec-9:000005", REFERENCE, "sample.stm")
    issued = []
    for _ in range(30):
        with ctx.unit_of_work() as (session, _):
            issued.append(issue_gold(session, "en", rate=0.1) is not None)
    assert [i for i, hit in enumerate(issued) if hit] == [9, 19, 29]


def test_gold_waits_for_a_segment_in_the_language(ctx: ServiceContext) -> None:
    seed_attempt(ctx, make_draft("rec-9:000006", text=REFERENCE))
    with ctx.unit_of_work() as (session, _):
        add_gold(session, "rec-9:000006", REFERENCE, "sample.stm")
        assert issue_gold(session, "fr", rate=1.0) is None
        assert issue_gold(session, "en", rate=0.0) is None


def test_gold_corrections_audit_the_linguist_and_nothing_else(ctx: ServiceContext) -> None:
    record(
        ctx, correction("rec-1:000001", "the quick brown fox jumped over the lazy dog", REFERENCE, "alice")
    )
    tasks = gold_tasks(ctx, REFERENCE, 7)
    draft = "the quick brown fox jumped over the lazy dog"
    sloppy = "the quick brown cat jumped over a lazy dog"  # 3 of 9 words wrong: accuracy 2/3

    alerts = [record(ctx, correction(t, draft, sloppy, "carol", confidence=0.99)) for t in tasks[:4]]
    assert [len(a) for a in alerts] == [0, 0, 1, 0]  # at the third gold result, and only once
    (alert,) = alerts[2]
    assert alert.kind == "linguist_gold" and alert.linguist == "carol" and alert.language == "en"
    assert alert.current == pytest.approx(2 / 3) and alert.bound == 0.9 and alert.samples == 3
    assert "carol" in alert.message
    for t in tasks[4:]:
        assert record(ctx, correction(t, draft, REFERENCE, "dave", confidence=0.99)) == []

    with ctx.sessions() as session:
        gold_rows = session.scalars(select(QualityCorrection).where(QualityCorrection.gold.is_(True))).all()
        assert len(gold_rows) == 7
        accuracy = {r.linguist: r.gold_accuracy for r in gold_rows}
        assert accuracy["carol"] == pytest.approx(1 - jiwer.wer(REFERENCE, sloppy))
        assert accuracy["dave"] == pytest.approx(1.0)
        assert len(calibration_samples(session)) == 1  # alice's correction alone
        assert [r.segments for r in build_wer_report(session, "language").rows] == [1]
        assert {r.group for r in build_wer_report(session, "linguist").rows} == {"alice"}
        assert session.scalar(select(func.count()).select_from(QualityAgreement)) == 0
        report = {r.linguist: r for r in build_linguist_report(session, "en", AUDIT).rows}
    assert report["carol"].flagged and report["carol"].gold_segments == 4
    assert report["carol"].gold_accuracy == pytest.approx(2 / 3)
    assert report["carol"].corrected_segments == 0
    assert not report["dave"].flagged and report["dave"].gold_accuracy == pytest.approx(1.0)
    assert not report["alice"].flagged and report["alice"].gold_segments == 0


def test_a_linguist_who_recovers_is_alerted_again_on_a_new_fall(ctx: ServiceContext) -> None:
    tasks = gold_tasks(ctx, REFERENCE, 12)
    draft = "the quick brown fox jumped over the lazy dog"
    sloppy = "the quick brown cat jumped over a lazy dog"
    texts = [sloppy] * 3 + [REFERENCE] * 8 + [sloppy]
    alerts = [
        len(record(ctx, correction(t, draft, text, "carol"))) for t, text in zip(tasks, texts, strict=True)
    ]
    # Mean gold accuracy: 2/3 at the 3rd (alert), 10/11 = 0.91 after eight good ones (recovered),
    # 32/3/12 = 0.89 at the 12th (alert again).
    assert [i for i, n in enumerate(alerts) if n] == [2, 11]
    assert sum(alerts) == 2


# --- drift ---


def test_a_rising_draft_wer_raises_one_drift_alert(ctx: ServiceContext) -> None:
    audit = AuditConfig(drift=DriftSettings(baseline_samples=5, min_samples=5, smoothing=0.5))
    good = ("the quick brown fox jumped over the lazy dog", REFERENCE)  # WER 1/9
    bad = ("a quick brown cat jumped over a lazy hog", REFERENCE)  # WER 5/9
    alerts = []
    for i, (draft, corrected) in enumerate([good] * 5 + [bad] * 5):
        alerts += record(
            ctx, correction(f"rec-4:{i:06d}", draft, corrected, "alice", model_version="v7"), audit
        )
    (alert,) = alerts
    assert alert.kind == "drift" and alert.language == "en" and alert.model_version == "whisper-base@v7"
    assert alert.baseline == pytest.approx(1 / 9) and alert.current > alert.bound > alert.baseline
    assert alert.samples == 6 and "whisper-base@v7" in alert.message


# --- calibration ---


def test_thresholds_are_calibrated_per_language_from_enough_corrections(ctx: ServiceContext) -> None:
    draft_right = "the quick brown fox jumps over the lazy dog"
    draft_half = "a quick brown cat jumped over a lazy dog"  # WER 4/9
    draft_wrong = "uh huh"  # WER 1
    english = [
        (0.95, draft_right),
        (0.92, draft_right),
        (0.88, draft_right),
        (0.85, draft_right),
        (0.6, draft_half),
        (0.5, draft_half),
        (0.3, draft_wrong),
    ]
    for i, (confidence, draft) in enumerate(english):
        record(ctx, correction(f"rec-5:{i:06d}", draft, REFERENCE, "alice", confidence=confidence))
    for i, confidence in enumerate([0.9, 0.4]):
        record(
            ctx,
            correction(f"rec-6:{i:06d}", "bonjour", "bonjour", "bob", language="fr", confidence=confidence),
        )
    # Gold copies the gate was sure of, corrected badly: they must not move the calibration.
    for task in gold_tasks(ctx, REFERENCE, 3):
        record(ctx, correction(task, "uh huh", REFERENCE, "carol", confidence=0.99))

    with ctx.unit_of_work() as (session, _):
        samples = calibration_samples(session)
        assert len(samples) == 9 and len(calibration_samples(session, "fr")) == 2
        assert all(s.confidence != pytest.approx(0.99) for s in samples)
        thresholds = refresh_thresholds(session, target_residual_wer=0.05, min_samples=5)
    assert thresholds == {"en": pytest.approx(0.85)}
    with ctx.sessions() as session:
        assert calibrated_threshold(session, "en") == pytest.approx(0.85)
        assert calibrated_threshold(session, "fr") is None
        assert calibrated_threshold(session, "de") is None


def test_nothing_is_calibrated_before_any_correction(ctx: ServiceContext) -> None:
    with ctx.unit_of_work() as (session, _):
        assert calibrated_threshold(session, "en") is None
        assert refresh_thresholds(session, 0.05, 1) == {}


# --- the draft handler, in process ---


def handle(
    ctx: ServiceContext, gold_rate: float, draft: transcripts_pb2.DraftTranscript, n: int = 0
) -> list[Outbound]:
    handler = make_draft_handler(ctx, GATE, gold_rate)
    with ctx.unit_of_work() as (session, outbound):
        out = list(handler(session, inbound(draft, n)))
        outbound.extend(out)
    return out


def test_the_draft_handler_redecodes_a_flagged_draft_then_routes_every_attempt(ctx: ServiceContext) -> None:
    (redecode,) = handle(ctx, 0.0, make_draft(appended="Thanks for watching"))
    assert redecode.topic == "transcripts.redecode.v1" and redecode.key == "rec-1"
    assert isinstance(redecode.message, transcripts_pb2.RedecodeRequest)
    assert redecode.message.draft.version == 1 and redecode.message.profile == "safe"
    assert any(r.startswith("text_without_speech: ") for r in redecode.message.reasons)
    with ctx.sessions() as session:
        (stored,) = session.scalars(select(QualityAttempt)).all()
        assert (stored.segment_id, stored.version, stored.recording_id) == ("rec-1:000001", 1, "rec-1")
        assert "text_without_speech" in stored.fired and stored.confidence < 0.5

    (routed,) = handle(ctx, 0.0, make_draft(version=2))
    assert routed.topic == "transcripts.qa.v1" and routed.key == "rec-1"
    verdict = routed.message
    assert isinstance(verdict, transcripts_pb2.QaVerdict)
    assert [a.version for a in verdict.attempts] == [1, 2]
    assert verdict.route == transcripts_pb2.ROUTE_HUMAN_REVIEW
    assert verdict.reasons[0].startswith("re-decoded (version 2, profile safe) after: ")
    assert verdict.policy_version == GATE.policy.version and verdict.risk_tier == "low"
    assert verdict.provenance.service == "quality"
    assert verdict.provenance.parameters["policy"] == GATE.policy.version
    assert not verdict.gold
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(QualityAttempt)) == 2


def test_a_clean_first_draft_is_routed_at_once(ctx: ServiceContext) -> None:
    (routed,) = handle(ctx, 0.0, make_draft())
    assert routed.topic == "transcripts.qa.v1"
    assert routed.message.route == transcripts_pb2.ROUTE_AUTO_ACCEPT  # type: ignore[attr-defined]


def test_a_review_also_slips_a_gold_segment_into_the_queue(ctx: ServiceContext) -> None:
    handle(ctx, 1.0, make_draft("rec-1:000001"))  # auto-accepted: no gold goes out with it
    with ctx.unit_of_work() as (session, _):
        gold = add_gold(session, "rec-1:000001", CLEAN_TEXT, "sample.stm")

    out = handle(ctx, 1.0, make_draft("rec-1:000002", text="so what was the problem", probability=0.4))
    assert [o.topic for o in out] == ["transcripts.qa.v1", "transcripts.qa.v1"]
    real, audit = (o.message for o in out)
    assert isinstance(real, transcripts_pb2.QaVerdict) and isinstance(audit, transcripts_pb2.QaVerdict)
    assert real.route == transcripts_pb2.ROUTE_HUMAN_REVIEW and not real.gold
    assert real.draft.segment.segment_id == "rec-1:000002"

    task_id = audit.draft.segment.segment_id
    assert audit.gold and audit.route == transcripts_pb2.ROUTE_HUMAN_REVIEW and not audit.double_blind
    assert task_id not in ("rec-1:000001", "rec-1:000002")
    assert list(audit.reasons) == ["sampled for review"]
    assert b"rec-1:000001" not in audit.SerializeToString()  # nothing points at the gold's origin
    assert audit.draft.segment.text == CLEAN_TEXT
    assert audit.provenance == real.provenance
    with ctx.sessions() as session:
        task = session.get(QualityGoldTask, task_id)
        assert task is not None and task.gold_id == gold.gold_id


def test_a_draft_without_a_version_is_refused(ctx: ServiceContext) -> None:
    with pytest.raises(InvalidMessage, match="version must be >= 1"):
        handle(ctx, 0.0, make_draft(version=0))
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(QualityAttempt)) == 0
