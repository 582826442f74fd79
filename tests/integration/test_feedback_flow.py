"""The feedback service's handlers on a real database (SQLite and PostgreSQL): validated
transcripts become training examples with their draft's quality and who made them; snapshots
freeze them with speaker-disjoint splits; drift and corrected hours ask for ASR retraining."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from protos import common_pb2, events_pb2, transcripts_pb2
from services.feedback import catalog
from services.feedback.__main__ import MIGRATIONS
from services.feedback.handler import make_alert_handler, make_handler, make_loop
from services.feedback.settings import FeedbackSettings
from services.feedback.store import RetrainRequestRow
from shared.kafka import codec
from shared.kafka.consumer import Inbound
from shared.kafka.outbox import Outbound
from shared.service import build_context
from shared.settings import load_settings
from shared.topics import QUALITY_ALERTS, TRAINING_EXAMPLES, TRAINING_RETRAIN, TRANSCRIPTS_VALIDATED

pytestmark = pytest.mark.integration

DRAFT_MODEL = common_pb2.Provenance(model_name="faster-whisper/base", model_version="3c5e1f0a")
CLASSIFIERS = "sentiment:9f2b71c04d1e intent:0a7c3e55b812"


def validated(
    segment_id: str,
    recording_id: str,
    text: str,
    draft: str | None = None,
    *,
    version: int = 2,
    speaker: str = "SPEAKER_00",
    metadata: dict[str, str] | None = None,
    start_s: float = 0.0,
    audio_sha: str = "",
    decode_profile: str = "default",
) -> transcripts_pb2.ValidatedTranscript:
    """As annotate publishes it: the draft's origin in its own fields, for every route."""
    v = transcripts_pb2.ValidatedTranscript(version=version, confidence=0.6, risk_tier="standard")
    v.context.recording_id, v.context.tenant_id, v.context.domain = recording_id, "acme", "support"
    v.context.metadata.update(metadata or {})
    v.segment.segment_id, v.segment.text, v.segment.language = segment_id, text, "en"
    v.segment.speaker, v.segment.start_s, v.segment.end_s = speaker, start_s, start_s + 4.0
    v.audio_start_s = start_s
    v.audio.sha256 = audio_sha or codec.new_id().replace("-", "")[:32] * 2
    v.sentiment.add(label="negative", confidence=0.8)
    v.intent.add(label="complaint", confidence=0.7)
    v.draft_provenance.CopyFrom(DRAFT_MODEL)
    v.decode_profile, v.classifier_version = decode_profile, CLASSIFIERS
    if draft is None:
        v.route = transcripts_pb2.ROUTE_AUTO_ACCEPT
        v.versions.add(version=1, kind="draft", provenance=DRAFT_MODEL)
    else:  # dispatch's history: versions without provenance
        v.route = transcripts_pb2.ROUTE_HUMAN_REVIEW
        v.draft.text = draft
        v.corrected_by, v.reviewed_by = "ana", "rui"
        v.versions.add(version=1, kind="draft")
        v.versions.add(version=version, kind="correction")
    return v


def origin_of(example: events_pb2.TrainingExample) -> tuple[str, str, str, str]:
    o = example.origin
    return o.draft_model, o.draft_model_version, o.decode_profile, o.classifier_version


class Feedback:
    def __init__(self, tmp_path: Path, db_url: str, **overrides: object) -> None:
        self.settings = load_settings(
            FeedbackSettings, data_dir=tmp_path / "data", database_url=db_url, **overrides
        )
        self.ctx = build_context(self.settings, [MIGRATIONS])
        self.on_validated = make_handler(self.ctx, self.settings)
        self.on_alert = make_alert_handler(self.ctx, self.settings)

    def feed(self, handler: object, topic: str, message: object) -> list[Outbound]:
        inbound = Inbound(message, codec.new_id(), "trace-1", topic, 0, 0, b"k")
        with self.ctx.sessions.begin() as session:
            return list(handler(session, inbound))  # type: ignore[operator]

    def validate(self, *messages: transcripts_pb2.ValidatedTranscript) -> list[Outbound]:
        return [o for m in messages for o in self.feed(self.on_validated, TRANSCRIPTS_VALIDATED.name, m)]


def test_a_corrected_segment_becomes_an_example_with_its_quality_and_origin(
    tmp_path: Path, db_url: str
) -> None:
    f = Feedback(tmp_path, db_url)
    (out,) = f.validate(
        validated(
            "s1",
            "rec-1",
            "I called Zentrix support twice",
            "I called centrics support twice",
            decode_profile="safe",
        )
    )
    assert out.topic == TRAINING_EXAMPLES.name and out.key == "rec-1"
    ex = out.message
    assert isinstance(ex, events_pb2.TrainingExample)
    assert ex.target_text == "I called Zentrix support twice" and ex.source_text.startswith(
        "I called centrics"
    )
    assert ex.quality.corrected and ex.quality.substitutions == 1 and abs(ex.quality.draft_wer - 0.2) < 1e-9
    assert list(ex.origin.linguists) == ["ana", "rui"]
    assert origin_of(ex) == ("faster-whisper/base", "3c5e1f0a", "safe", CLASSIFIERS)
    assert ex.speaker_id == "acme/rec-1/SPEAKER_00" and ex.domain == "support" and ex.version == 2
    assert [s.label for s in ex.sentiment] == ["negative"] and not ex.gold and not ex.evaluation
    # Redelivered or older: nothing new.
    assert f.validate(validated("s1", "rec-1", "old text", "x", version=1)) == []
    auto = f.validate(validated("s2", "rec-1", "thanks a lot"))[0].message
    assert isinstance(auto, events_pb2.TrainingExample)
    assert auto.quality.draft_wer == 0.0 and not auto.quality.corrected and auto.source_text == "thanks a lot"
    assert origin_of(auto) == ("faster-whisper/base", "3c5e1f0a", "default", CLASSIFIERS)


def test_a_snapshot_keeps_speakers_apart_holds_out_evaluation_and_drops_duplicates(
    tmp_path: Path, db_url: str
) -> None:
    f = Feedback(tmp_path, db_url)
    agent = {"speaker_id.SPEAKER_00": "agent-7"}  # the same agent in recordings 1 and 2
    f.validate(
        validated("a1", "rec-1", "hello there", "hello their", metadata=agent, audio_sha="a" * 64),
        validated("a2", "rec-2", "good morning", metadata=agent),
        validated("b1", "rec-3", "my router is broken", "my rooter is broken"),
        validated("c1", "rec-4", "please cancel it", metadata={"evaluation": "true"}),
        validated("d1", "rec-5", "thank you bye"),
        validated("e1", "rec-6", "the bill is wrong", "the bill is long"),
        # rec-1's audio sent again under another recording id: the same span, a duplicate.
        validated("z9", "rec-1-again", "hello there", "hello their", audio_sha="a" * 64),
    )
    with f.ctx.sessions.begin() as session:
        snapshot = catalog.create_snapshot(session, f.settings.resolved_datasets_dir, note="first")
    assert snapshot.examples == 6 and snapshot.duplicates_dropped == 1 and snapshot.protected_examples == 1
    with f.ctx.sessions() as session:
        _, members = catalog.snapshot_examples(session, snapshot.snapshot_id)
    split = {m.example.segment_id: m.split for m in members}
    assert split["a1"] == split["a2"] and split["c1"] == "test" and "z9" not in split
    assert {s.split for s in snapshot.splits if s.examples} == {"train", "dev", "test"}
    manifest = Path(snapshot.path, "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(manifest) == 6 and Path(snapshot.path, "snapshot.json").is_file()
    card = Path(snapshot.path, "README.md").read_text(encoding="utf-8")
    assert snapshot.snapshot_id in card and "1 duplicates dropped, 1 protected examples" in card
    assert "3 of 6 were corrected by linguists" in card
    # Nothing new: the same snapshot. A re-validated segment: a new snapshot; the old one is frozen.
    with f.ctx.sessions.begin() as session:
        assert (
            catalog.create_snapshot(session, f.settings.resolved_datasets_dir).snapshot_id
            == snapshot.snapshot_id
        )
    f.validate(validated("b1", "rec-3", "my router is broken again", "my rooter is broken", version=3))
    with f.ctx.sessions.begin() as session:
        second = catalog.create_snapshot(session, f.settings.resolved_datasets_dir)
    assert second.snapshot_id != snapshot.snapshot_id
    with f.ctx.sessions() as session:
        _, old = catalog.snapshot_examples(session, snapshot.snapshot_id)
        _, new = catalog.snapshot_examples(session, second.snapshot_id)
        assert [s.snapshot_id for s in catalog.list_snapshots(session)] == [
            snapshot.snapshot_id,
            second.snapshot_id,
        ]
    text = {m.example.segment_id: m.example.target_text for m in old}
    assert text["b1"] == "my router is broken"
    assert {m.example.segment_id: m.split for m in new} == split  # splits stay put
    with pytest.raises(catalog.SnapshotNotFound), f.ctx.sessions() as session:
        catalog.snapshot_examples(session, "ds-nope")


def test_drift_and_corrected_hours_ask_for_asr_retraining_with_a_snapshot(
    tmp_path: Path, db_url: str
) -> None:
    f = Feedback(tmp_path, db_url, asr_retrain_hours=0.002)  # 7.2 s of corrected speech
    alert = events_pb2.QualityAlert(kind="drift", language="en", current=0.31, bound=0.2, message="WER up")
    assert f.feed(f.on_alert, QUALITY_ALERTS.name, alert) == []  # no data yet: nothing to retrain on
    f.validate(validated("s1", "rec-1", "I called Zentrix", "I called centrics"))
    (request,) = f.feed(f.on_alert, QUALITY_ALERTS.name, alert)
    assert request.topic == TRAINING_RETRAIN.name
    msg = request.message
    assert isinstance(msg, events_pb2.RetrainingRequest)
    assert msg.reason == "drift" and msg.snapshot_id.startswith("ds-") and msg.evidence == "WER up"
    other = events_pb2.QualityAlert(kind="linguist_gold", language="en")
    assert f.feed(f.on_alert, QUALITY_ALERTS.name, other) == []
    loop = make_loop(f.ctx, f.settings)
    f.validate(validated("s2", "rec-2", "the Zentrix box", "the centrics box"))
    loop()  # 4 s corrected since the drift request: under 7.2 s
    f.validate(validated("s3", "rec-3", "a Zentrix modem", "a centrics modem"))
    f.validate(validated("s4", "rec-3", "thanks", start_s=5.0))  # not corrected: does not count
    loop()  # 8 s: a request
    loop()  # nothing new since
    with f.ctx.sessions() as session:
        rows = list(session.scalars(select(RetrainRequestRow).order_by(RetrainRequestRow.at)))
    assert [r.reason for r in rows] == ["drift", "corrected_hours"]
    assert abs(rows[1].corrected_hours * 3600 - 8.0) < 0.01
