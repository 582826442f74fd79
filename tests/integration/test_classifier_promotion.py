"""Retraining the text classifiers from human-reviewed labels (real spaCy training, real SQLite
and PostgreSQL): a candidate better on the fixed held-out set is promoted and announced, a worse
one is refused and CURRENT stays, too few new labels train nothing; and the annotate service's
labeller, nlp worker process included, switches to a promoted version without a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from protos import common_pb2, events_pb2
from services.annotate import classifiers
from services.annotate.handler import make_promotion_handler
from services.annotate.labeller import Labeller
from services.annotate.settings import AnnotateSettings
from services.feedback.classifier_retraining import ClassifierRun, RetrainOutcome, retrain_classifiers
from shared.db import OutboxEntry
from shared.kafka import codec
from shared.kafka.consumer import Inbound
from shared.settings import load_settings
from shared.topics import MODELS_PROMOTED
from tests.integration.test_feedback_flow import Feedback, validated

pytestmark = pytest.mark.integration

LABELS = ("negative", "neutral", "positive")


def small_corpus(tmp_path: Path) -> tuple[Path, list[classifiers.Example]]:
    """The English corpus's held-out test lines with one training line in six: a weak current
    model. Returns the folder and the training lines left out (the reviewed labels to come)."""
    lines = [
        json.loads(line) for line in (classifiers.CORPUS / "classify" / "en.jsonl").read_text().splitlines()
    ]
    train = [row for row in lines if row["split"] == "train"]
    kept = [row for row in lines if row["split"] == "test"] + train[::6]
    folder = tmp_path / "corpus"
    (folder / "classify").mkdir(parents=True)
    (folder / "classify" / "en.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    rest = [r for n, r in enumerate(train) if n % 6]
    return folder, [classifiers.Example(r["text"], r["sentiment"], r["intent"], "train") for r in rest]


def review(f: Feedback, lines: list[classifiers.Example], wrong: bool = False, prefix: str = "rv") -> None:
    """Validated transcripts whose labels a person reviewed (``wrong``: each label rotated)."""
    for n, line in enumerate(lines):
        sentiment = LABELS[(LABELS.index(line.sentiment) + 1) % 3] if wrong else line.sentiment
        v = validated(f"{prefix}{n}:0", f"{prefix}{n}", line.text)
        v.labels_reviewed, v.labels_reviewed_by = True, "lea"
        del v.sentiment[:]
        v.sentiment.add(label=sentiment, confidence=1.0)
        f.validate(v)


def current(models_dir: Path) -> str | None:
    return classifiers.current_version(models_dir, "en", "sentiment")


def promotions(f: Feedback) -> list[events_pb2.ModelPromotion]:
    with f.ctx.sessions() as session:
        rows = session.scalars(select(OutboxEntry).where(OutboxEntry.topic == MODELS_PROMOTED.name))
        return [events_pb2.ModelPromotion.FromString(r.value) for r in rows]


def test_a_better_candidate_is_promoted_and_a_worse_one_refused(tmp_path: Path, db_url: str) -> None:
    models = tmp_path / "models"
    corpus, rest = small_corpus(tmp_path)
    base, _ = classifiers.train("en", "sentiment", models, classifiers.read_corpus("en", corpus))
    assert current(models) == base.version  # the first version becomes current
    f = Feedback(tmp_path, db_url)

    def retrain() -> list[RetrainOutcome]:
        return list(retrain_classifiers(f.ctx, models, 50, ["en"], ["sentiment"], corpus))

    review(f, rest[:30])
    assert retrain() == []  # 30 new reviewed labels: under 50, nothing trained
    review(f, rest[30:])  # now every other training line, labelled right
    (better,) = retrain()
    assert better.promoted and better.candidate_macro_f1 > better.current_macro_f1
    assert current(models) == better.candidate_version != base.version
    (message,) = promotions(f)
    assert message.model == "sentiment" and message.language == "en"
    assert message.version == better.candidate_version and message.previous_version == base.version
    assert message.metrics["macro_f1"] > message.previous_metrics["macro_f1"]
    assert retrain() == []  # nothing new since

    # Other recordings of the same lines, labelled with the opposite of the truth: worse.
    review(f, rest, wrong=True, prefix="wrong")
    (worse,) = retrain()
    assert not worse.promoted and worse.candidate_macro_f1 <= worse.current_macro_f1
    assert "not promoted" in worse.reason
    assert current(models) == better.candidate_version
    assert len(promotions(f)) == 1  # still only the first
    with f.ctx.sessions() as session:
        first_run, run = session.scalars(select(ClassifierRun).order_by(ClassifierRun.at))
    assert first_run.promoted and not run.promoted and run.current_version == better.candidate_version
    print(
        f"current {better.current_macro_f1:.3f} -> promoted {better.candidate_macro_f1:.3f}; "
        f"wrong labels: candidate {worse.candidate_macro_f1:.3f}, refused"
    )


def test_the_labeller_and_its_worker_switch_to_a_promoted_version_without_a_restart(tmp_path: Path) -> None:
    models = tmp_path / "models"
    corpus, rest = small_corpus(tmp_path)
    first, _ = classifiers.train("en", "sentiment", models, classifiers.read_corpus("en", corpus))
    settings = load_settings(
        AnnotateSettings, models_dir=models, data_dir=tmp_path / "data", nlp_process=True
    )
    labeller = Labeller(settings)
    try:
        segment = common_pb2.TranscriptSegment(
            segment_id="s", text="This is terrible, I want a refund.", language="en"
        )
        labeller.label([segment], ["acme"])
        assert labeller.pipeline("en").classifier_version == f"sentiment:{first.version}"
        assert labeller.refresh() == []  # nothing changed
        lines = [
            *classifiers.read_corpus("en", corpus),
            *[classifiers.Example(e.text, e.sentiment, e.intent, "train") for e in rest],
        ]
        second, _ = classifiers.train("en", "sentiment", models, lines, make_current=False)
        assert labeller.refresh() == []  # trained, not promoted: still the first
        classifiers.promote(models, "en", "sentiment", second.version)
        handler = make_promotion_handler(labeller)
        promoted = events_pb2.ModelPromotion(model="sentiment", language="en", version=second.version)
        assert handler(None, Inbound(promoted, codec.new_id(), "t", MODELS_PROMOTED.name, 0, 0, b"k")) == []  # type: ignore[arg-type]
        assert labeller.pipeline("en").classifier_version == f"sentiment:{second.version}"
        (labels,) = labeller.label([segment], ["acme"])
        assert labels.sentiment  # labelled by the new version, in the worker process
        assert labeller.versions().endswith(f"sentiment:{second.version}")
    finally:
        labeller.close()
