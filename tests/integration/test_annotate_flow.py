"""The annotate service's handlers on a real database (SQLite and PostgreSQL) with the real spaCy
pipelines and trained classifiers: auto-accepted and corrected segments are labelled and
validated, unsure labels wait for a person's review and are replaced by it (kept as training
data), versions only move forward, gold copies are never validated, tenants redact."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from protos import common_pb2, transcripts_pb2
from services.annotate import classifiers
from services.annotate.__main__ import MIGRATIONS
from services.annotate.handler import from_corrected, from_verdict, make_review_handler, make_trusted_handlers
from services.annotate.labeller import Labeller
from services.annotate.settings import AnnotateSettings, TenantProfile
from services.annotate.store import ReviewedLabels
from shared.kafka import codec
from shared.kafka.consumer import Inbound, InvalidMessage
from shared.kafka.outbox import Outbound
from shared.service import ServiceContext, build_context
from shared.settings import load_settings
from shared.topics import (
    LABELS_REVIEWED,
    TRANSCRIPTS_ANNOTATED,
    TRANSCRIPTS_CORRECTED,
    TRANSCRIPTS_QA,
    TRANSCRIPTS_VALIDATED,
)

pytestmark = pytest.mark.integration

INTENTS = {"greeting", "question", "request", "complaint", "confirmation", "cancellation", "gratitude"}
INTENTS |= {"farewell", "other"}
TEXT = (
    "Hello, this is Anna Smith from Boston, my email is anna@example.com, "
    "and thank you so much, everything works perfectly now."
)
DRAFT_MODEL = common_pb2.Provenance(model_name="faster-whisper/base", model_version="3c5e1f0a")


@pytest.fixture(scope="module")
def models_dir() -> Path:
    """The shipped corpus's classifiers, trained once into the models home (kept when present)."""
    home = load_settings(AnnotateSettings).models_dir
    list(classifiers.train_all(home, ["en", "fr"]))
    return home


def make_settings(tmp_path: Path, db_url: str, models_dir: Path, **overrides: object) -> AnnotateSettings:
    overrides.setdefault("nlp_process", False)  # in this process; the worker has its own test
    return load_settings(
        AnnotateSettings, data_dir=tmp_path / "data", database_url=db_url, models_dir=models_dir, **overrides
    )


def segment(segment_id: str, text: str = TEXT, language: str = "en") -> common_pb2.TranscriptSegment:
    s = common_pb2.TranscriptSegment(
        segment_id=segment_id, text=text, language=language, speaker="SPEAKER_00"
    )
    for i, word in enumerate(text.split()):
        s.words.add(
            text=" " + word, start_s=i * 0.4, end_s=i * 0.4 + 0.3, speaker="SPEAKER_00", probability=0.9
        )
    return s


def verdict(
    segment_id: str, text: str = TEXT, tenant: str = "acme", gold: bool = False
) -> transcripts_pb2.QaVerdict:
    v = transcripts_pb2.QaVerdict(
        route=transcripts_pb2.ROUTE_AUTO_ACCEPT, confidence=0.93, risk_tier="low", gold=gold
    )
    v.context.recording_id, v.context.tenant_id = "rec-1", tenant
    v.draft.segment.CopyFrom(segment(segment_id, text))
    v.draft.version, v.draft.decode_profile = 1, "default"
    v.draft.provenance.CopyFrom(DRAFT_MODEL)
    v.reasons.append("confident")
    return v


def corrected(segment_id: str, version: int, text: str = TEXT) -> transcripts_pb2.CorrectedTranscript:
    c = transcripts_pb2.CorrectedTranscript(
        version=version, task_id="t-1", corrected_by="ana", reviewed_by="rui"
    )
    c.context.recording_id, c.context.tenant_id = "rec-1", "acme"
    c.segment.CopyFrom(segment(segment_id, text))
    c.draft.CopyFrom(segment(segment_id, text.replace("Smith", "Smyth")))
    c.verdict.route = transcripts_pb2.ROUTE_HUMAN_REVIEW
    c.verdict.draft.version, c.verdict.draft.decode_profile = 2, "safe"  # judged after a re-decode
    c.verdict.draft.provenance.CopyFrom(DRAFT_MODEL)
    c.history.add(version=1, kind="draft")  # dispatch's history: versions without provenance
    c.history.add(version=version, kind="correction")
    return c


class Annotate:
    """The service's handlers over one database, fed as the consumer loop feeds them."""

    def __init__(self, settings: AnnotateSettings) -> None:
        self.ctx: ServiceContext = build_context(settings, [MIGRATIONS])
        labeller = Labeller(settings)
        self.on_verdict, self.on_verdicts, _ = make_trusted_handlers(
            self.ctx, labeller, settings, from_verdict
        )
        self.on_corrected, _, _ = make_trusted_handlers(self.ctx, labeller, settings, from_corrected)
        self.on_review = make_review_handler(settings)

    def feed(self, handler: object, topic: str, message: object) -> list[Outbound]:
        inbound = Inbound(message, codec.new_id(), "trace-1", topic, 0, 0, b"rec-1")
        with self.ctx.sessions.begin() as session:
            return list(handler(session, inbound))  # type: ignore[operator]


def only(out: list[Outbound], topic: str) -> list[object]:
    return [o.message for o in out if o.topic == topic]


def test_an_auto_accepted_segment_is_labelled_and_validated(
    tmp_path: Path, db_url: str, models_dir: Path
) -> None:
    a = Annotate(
        make_settings(tmp_path, db_url, models_dir, review_threshold=0.0, entity_review_threshold=0.0)
    )
    out = a.feed(a.on_verdict, TRANSCRIPTS_QA.name, verdict("seg-1"))
    (annotated,) = only(out, TRANSCRIPTS_ANNOTATED.name)
    (validated,) = only(out, TRANSCRIPTS_VALIDATED.name)
    assert isinstance(validated, transcripts_pb2.ValidatedTranscript)
    labels = {(e.label, e.text) for e in validated.entities}
    assert {("PERSON", "Anna Smith"), ("LOC", "Boston"), ("EMAIL", "anna@example.com")} <= labels
    assert [s.label for s in validated.sentiment][0] == "positive"
    assert {s.label for s in validated.intent} == INTENTS
    assert abs(sum(s.confidence for s in validated.intent) - 1.0) < 1e-4
    assert validated.route == transcripts_pb2.ROUTE_AUTO_ACCEPT and validated.risk_tier == "low"
    assert validated.pipeline.startswith("en_core_web_sm") and validated.trained_pipeline
    assert [v.kind for v in validated.versions] == ["draft", "validated"] and validated.version == 1
    assert not annotated.needs_label_review and "sentiment:" in annotated.classifier_version  # type: ignore[attr-defined]
    assert validated.draft_provenance == DRAFT_MODEL and validated.decode_profile == "default"
    assert validated.classifier_version == annotated.classifier_version  # type: ignore[attr-defined]
    # A redelivered or older copy of the same segment changes nothing.
    assert a.feed(a.on_verdict, TRANSCRIPTS_QA.name, verdict("seg-1")) == []


def test_a_human_corrected_version_supersedes_and_an_older_one_is_dropped(
    tmp_path: Path, db_url: str, models_dir: Path
) -> None:
    a = Annotate(
        make_settings(tmp_path, db_url, models_dir, review_threshold=0.0, entity_review_threshold=0.0)
    )
    a.feed(a.on_verdict, TRANSCRIPTS_QA.name, verdict("seg-2"))
    out = a.feed(a.on_corrected, TRANSCRIPTS_CORRECTED.name, corrected("seg-2", 3))
    (validated,) = only(out, TRANSCRIPTS_VALIDATED.name)
    assert validated.version == 3 and validated.corrected_by == "ana" and validated.reviewed_by == "rui"  # type: ignore[attr-defined]
    assert "Smyth" in validated.draft.text  # type: ignore[attr-defined]
    assert isinstance(validated, transcripts_pb2.ValidatedTranscript)
    assert validated.draft_provenance == DRAFT_MODEL and validated.decode_profile == "safe"
    assert "sentiment:" in validated.classifier_version and "intent:" in validated.classifier_version
    assert a.feed(a.on_corrected, TRANSCRIPTS_CORRECTED.name, corrected("seg-2", 2)) == []


def test_gold_copies_are_never_validated_and_routed_verdicts_wait_for_people(
    tmp_path: Path, db_url: str, models_dir: Path
) -> None:
    a = Annotate(make_settings(tmp_path, db_url, models_dir))
    assert a.feed(a.on_verdict, TRANSCRIPTS_QA.name, verdict("seg-g", gold=True)) == []
    routed = verdict("seg-h")
    routed.route = transcripts_pb2.ROUTE_HUMAN_REVIEW
    assert a.feed(a.on_verdict, TRANSCRIPTS_QA.name, routed) == []
    with pytest.raises(InvalidMessage, match="segment_id"):
        a.feed(
            a.on_verdict,
            TRANSCRIPTS_QA.name,
            transcripts_pb2.QaVerdict(route=transcripts_pb2.ROUTE_AUTO_ACCEPT),
        )


def test_unsure_labels_wait_for_review_and_the_review_replaces_them(
    tmp_path: Path, db_url: str, models_dir: Path
) -> None:
    a = Annotate(make_settings(tmp_path, db_url, models_dir, review_threshold=0.999))
    out = a.feed(a.on_verdict, TRANSCRIPTS_QA.name, verdict("seg-3"))
    (annotated,) = only(out, TRANSCRIPTS_ANNOTATED.name)
    assert isinstance(annotated, transcripts_pb2.AnnotatedTranscript)
    assert annotated.needs_label_review and only(out, TRANSCRIPTS_VALIDATED.name) == []
    assert any(r.startswith("sentiment: top label") for r in annotated.review_reasons)

    review = transcripts_pb2.LabelReview(
        context=annotated.context, segment_id="seg-3", version=1, sentiment="neutral", intent="request",
        task_id="task-9", reviewed_by="lena",
    )  # fmt: skip
    start = TEXT.index("Anna")
    review.entities.add(label="PERSON", start_char=start, end_char=start + len("Anna Smith"))
    out = a.feed(a.on_review, LABELS_REVIEWED.name, review)
    (validated,) = only(out, TRANSCRIPTS_VALIDATED.name)
    assert isinstance(validated, transcripts_pb2.ValidatedTranscript)
    assert validated.labels_reviewed and validated.labels_reviewed_by == "lena"
    assert [(e.label, e.text, e.source, e.start_word, e.end_word) for e in validated.entities] == [
        ("PERSON", "Anna Smith", "review:lena", 3, 5)
    ]
    assert (validated.sentiment[0].label, validated.sentiment[0].confidence) == ("neutral", 1.0)
    assert validated.intent[0].label == "request" and len(validated.intent) == 9
    with a.ctx.sessions() as session:
        (kept,) = session.scalars(select(ReviewedLabels)).all()
    assert (kept.sentiment, kept.intent, kept.reviewed_by, kept.language) == (
        "neutral",
        "request",
        "lena",
        "en",
    )
    assert kept.model_sentiment == annotated.sentiment[0].label and kept.entities == [
        [start, start + 10, "PERSON"]
    ]
    # Redelivered: nothing again. A label outside the set, or a review of nothing, is refused.
    assert a.feed(a.on_review, LABELS_REVIEWED.name, review) == []
    bad = transcripts_pb2.LabelReview()
    bad.CopyFrom(review)
    bad.segment_id = "seg-unknown"
    with pytest.raises(InvalidMessage, match="await review"):
        a.feed(a.on_review, LABELS_REVIEWED.name, bad)
    a.feed(a.on_verdict, TRANSCRIPTS_QA.name, verdict("seg-4"))
    bad.segment_id, bad.sentiment = "seg-4", "ecstatic"
    with pytest.raises(InvalidMessage, match="ecstatic"):
        a.feed(a.on_review, LABELS_REVIEWED.name, bad)


def test_a_batch_is_labelled_in_order_across_languages(tmp_path: Path, db_url: str, models_dir: Path) -> None:
    a = Annotate(
        make_settings(tmp_path, db_url, models_dir, review_threshold=0.0, entity_review_threshold=0.0)
    )
    french = verdict("seg-fr", "Bonjour, je suis Marie Dubois et j'habite à Lyon, merci beaucoup.")
    french.draft.segment.language = "fr"
    german = verdict("seg-de", "Guten Tag, meine Kundennummer ist 4471920.")
    german.draft.segment.language = "de"
    inbounds = [
        Inbound(m, codec.new_id(), "t", TRANSCRIPTS_QA.name, 0, n, b"rec-1")
        for n, m in enumerate([verdict("seg-en"), french, german])
    ]
    with a.ctx.sessions.begin() as session:
        outs = a.on_verdicts(session, inbounds)
    pipelines = [only(list(o), TRANSCRIPTS_ANNOTATED.name)[0].pipeline for o in outs]  # type: ignore[attr-defined]
    assert (
        pipelines[0].startswith("en_") and pipelines[1].startswith("fr_") and pipelines[2] == "rules-only:de"
    )
    french_entities = {(e.label, e.text) for e in only(list(outs[1]), TRANSCRIPTS_ANNOTATED.name)[0].entities}  # type: ignore[attr-defined]
    assert ("PERSON", "Marie Dubois") in french_entities and ("LOC", "Lyon") in french_entities
    german_entities = {(e.label, e.text) for e in only(list(outs[2]), TRANSCRIPTS_ANNOTATED.name)[0].entities}  # type: ignore[attr-defined]
    assert german_entities == {("ID", "4471920")}


def test_a_tenant_that_redacts_gets_personal_data_replaced(
    tmp_path: Path, db_url: str, models_dir: Path
) -> None:
    settings = make_settings(
        tmp_path, db_url, models_dir, review_threshold=0.0, entity_review_threshold=0.0,
        tenants={"acme": TenantProfile(redact=True, intent_labels=["complaint", "gratitude", "other"])},
    )  # fmt: skip
    a = Annotate(settings)
    (validated,) = only(
        a.feed(a.on_verdict, TRANSCRIPTS_QA.name, verdict("seg-5")), TRANSCRIPTS_VALIDATED.name
    )
    assert validated.redacted  # type: ignore[attr-defined]
    assert validated.segment.text == TEXT.replace("Anna Smith", "[PERSON]").replace(
        "anna@example.com", "[EMAIL]"
    )  # type: ignore[attr-defined]
    assert "anna@example.com" not in " ".join(w.text for w in validated.segment.words)  # type: ignore[attr-defined]
    assert {s.label for s in validated.intent} == {"complaint", "gratitude", "other"}  # type: ignore[attr-defined]
    other = verdict("seg-6", tenant="globex")
    (plain,) = only(a.feed(a.on_verdict, TRANSCRIPTS_QA.name, other), TRANSCRIPTS_VALIDATED.name)
    assert not plain.redacted and "anna@example.com" in plain.segment.text  # type: ignore[attr-defined]


def test_the_worker_process_labels_exactly_as_this_process(models_dir: Path) -> None:
    """The service's default: nlp.pipe in a child process, fed in chunks; same labels, same order."""
    texts = [
        TEXT,
        "Bonjour, je suis Marie Dubois et j'habite à Lyon.",
        "Mein Vertrag 4471920 läuft aus.",
    ] * 30
    languages = ["en", "fr", "de"] * 30
    segments = [segment(f"s{n}", t, lang) for n, (t, lang) in enumerate(zip(texts, languages, strict=True))]
    here = Labeller(load_settings(AnnotateSettings, models_dir=models_dir, nlp_process=False))
    child = Labeller(load_settings(AnnotateSettings, models_dir=models_dir, nlp_process=True))
    try:
        assert child._worker is not None
        a, b = here.label(segments, ["acme"] * 90), child.label(segments, ["acme"] * 90)
        assert [x.entities for x in a] == [y.entities for y in b]
        assert [[(s.label, round(s.confidence, 5)) for s in x.sentiment] for x in a] == [
            [(s.label, round(s.confidence, 5)) for s in y.sentiment] for y in b
        ]
        assert [x.intent[0].label for x in a] == [y.intent[0].label for y in b]
    finally:
        child.close()


def test_texts_prefetched_from_the_next_poll_are_not_labelled_twice(models_dir: Path) -> None:
    """The consumer hands the worker its next poll early; ``label`` then only collects."""
    texts = [
        TEXT,
        "Bonjour, je suis Marie Dubois et j'habite à Lyon.",
        "Mein Vertrag 4471920 läuft aus.",
    ] * 30
    segments = [segment(f"s{n}", t, ["en", "fr", "de"][n % 3]) for n, t in enumerate(texts)]
    here = Labeller(load_settings(AnnotateSettings, models_dir=models_dir, nlp_process=False))
    child = Labeller(load_settings(AnnotateSettings, models_dir=models_dir, max_poll_records=50))
    try:
        assert child._worker is not None
        child.prefetch(segments)
        sent = child._worker.sent
        labelled = child.label(segments, ["acme"] * 90)
        assert child._worker.sent == sent, "every text came from the prefetched requests"
        assert [x.entities for x in labelled] == [y.entities for y in here.label(segments, ["acme"] * 90)]
        child.label(segments[:3], ["acme"] * 3)
        assert child._worker.sent > sent, "taken once: the same texts again are labelled anew"
        # Prefetched texts the handler never asks for are dropped past 4 polls' worth.
        child.prefetch([segment(f"x{n}", f"Unused text number {n}.", "en") for n in range(250)])
        assert len(child._prefetched.by_text) <= 200
    finally:
        child.close()


def test_a_dead_worker_process_fails_the_call_at_once(models_dir: Path) -> None:
    child = Labeller(load_settings(AnnotateSettings, models_dir=models_dir))
    try:
        assert child._worker is not None
        child._worker._process.kill()
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="nlp worker process"):
            child.label([segment("s1", TEXT, "en")], ["acme"])
        assert time.monotonic() - started < 10, "not the 300 s timeout"
    finally:
        child.close()
