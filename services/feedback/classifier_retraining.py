"""Retrain the sentiment and intent classifiers from labels people reviewed, and promote a new
version only when it beats the current one on the fixed held-out set.

Per language and task: once ``min_new_labels`` reviewed labels have arrived since the last run,
a candidate is trained on the shipped corpus's training lines plus every reviewed label (one in
seven goes to dev by the corpus's own hash rule; none to test), both models are scored on the
corpus's **test split** (never trained on, the same lines every time), and the candidate becomes
current only if its macro-F1 is strictly higher. Refused runs are kept with both scores too.
The registry is annotate's (``services.annotate.classifiers``): feedback writes a version and
moves CURRENT; annotate reloads it (``models.promoted.v1``, and a periodic look at CURRENT).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table
from sqlalchemy import Boolean, Float, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from protos import common_pb2, events_pb2
from services.annotate import classifiers
from services.feedback.store import ExampleRow
from shared.db.tables import Base
from shared.kafka import codec
from shared.kafka.outbox import Outbound
from shared.service import ServiceContext
from shared.text import primary_language
from shared.topics import MODELS_PROMOTED


class ClassifierRun(Base):
    __tablename__ = "feedback_classifier_runs"

    run_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    language: Mapped[str] = mapped_column(String(16), index=True)
    task: Mapped[str] = mapped_column(String(32))
    at: Mapped[float] = mapped_column(Float, index=True)
    labels_until: Mapped[float] = mapped_column(Float)  # the newest reviewed label this run saw
    reviewed_labels: Mapped[int] = mapped_column(Integer)
    new_labels: Mapped[int] = mapped_column(Integer)
    current_version: Mapped[str] = mapped_column(String(64))
    candidate_version: Mapped[str] = mapped_column(String(64))
    current_macro_f1: Mapped[float] = mapped_column(Float)
    candidate_macro_f1: Mapped[float] = mapped_column(Float)
    promoted: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class RetrainOutcome:
    language: str
    task: classifiers.Task
    new_labels: int
    reviewed_labels: int
    current_version: str
    candidate_version: str
    current_macro_f1: float
    candidate_macro_f1: float
    promoted: bool
    reason: str


def _dev_or_train(text: str) -> str:
    """The corpus's rule (``classifiers.read_corpus``): one line in seven, by its text, is dev."""
    return "dev" if int(hashlib.sha256(text.encode()).hexdigest(), 16) % 7 == 0 else "train"


def reviewed_examples(session: Session, language: str) -> tuple[list[classifiers.Example], float]:
    """The language's human-reviewed labels as training lines, and when the newest arrived."""
    query = select(ExampleRow).where(ExampleRow.labels_reviewed.is_(True)).order_by(ExampleRow.segment_id)
    rows = [r for r in session.scalars(query) if primary_language(r.language) == language]
    examples = [
        classifiers.Example(r.text, r.sentiment, r.intent, _dev_or_train(r.text), reviewed=True)
        for r in rows
        if r.text.strip() and r.sentiment and r.intent
    ]
    return examples, max((r.at for r in rows), default=0.0)


def _last_run_until(session: Session, language: str, task: str) -> float:
    query = select(func.max(ClassifierRun.labels_until)).where(
        ClassifierRun.language == language, ClassifierRun.task == task
    )
    return float(session.scalar(query) or 0.0)


def _new_labels(session: Session, language: str, since: float) -> int:
    query = select(ExampleRow.language, ExampleRow.sentiment, ExampleRow.intent).where(
        ExampleRow.labels_reviewed.is_(True), ExampleRow.at > since
    )
    return sum(1 for lang, s, i in session.execute(query) if primary_language(lang) == language and s and i)


@dataclass(frozen=True)
class Plan:
    """What a run needs from the database, read before the (slow) training starts."""

    language: str
    task: classifiers.Task
    new_labels: int
    reviewed: list[classifiers.Example]
    labels_until: float


def plan(session: Session, language: str, task: classifiers.Task, min_new_labels: int) -> Plan | None:
    """None when fewer than ``min_new_labels`` reviewed labels have arrived since the last run."""
    new = _new_labels(session, language, _last_run_until(session, language, task))
    if new < min_new_labels:
        return None
    reviewed, until = reviewed_examples(session, language)
    return Plan(language, task, new, reviewed, until)


def train_and_judge(todo: Plan, models_dir: Path, corpus_dir: Path = classifiers.CORPUS) -> RetrainOutcome:
    """Train the candidate, score it and the current model on the held-out set, promote if better."""
    language, task = todo.language, todo.task
    corpus = classifiers.read_corpus(language, corpus_dir)
    held_out = [ex for ex in corpus if ex.split == "test"]
    current = classifiers.load(models_dir, language, task)
    current_f1 = classifiers.score(current[0], held_out, task)["macro_f1"] if current else 0.0
    card, _ = classifiers.train(language, task, models_dir, [*corpus, *todo.reviewed], make_current=False)
    candidate_f1 = card.test_scores.get("macro_f1", 0.0)  # scored on the same held-out lines
    current_version = current[1].version if current else ""
    if card.version == current_version:
        promoted, reason = False, "the candidate is the current model (same training lines)"
    elif candidate_f1 > current_f1:
        classifiers.promote(models_dir, language, task, card.version)
        promoted, reason = True, f"macro-F1 {candidate_f1:.3f} > {current_f1:.3f} on the held-out set"
    else:
        promoted, reason = False, f"macro-F1 {candidate_f1:.3f} <= {current_f1:.3f}: not better, not promoted"
    return RetrainOutcome(
        language, task, todo.new_labels, len(todo.reviewed), current_version, card.version,
        current_f1, candidate_f1, promoted, reason,
    )  # fmt: skip


def record(session: Session, todo: Plan, outcome: RetrainOutcome) -> None:
    session.add(
        ClassifierRun(
            run_id=codec.new_id(),
            at=time.time(),
            labels_until=todo.labels_until,
            language=outcome.language,
            task=outcome.task,
            reviewed_labels=outcome.reviewed_labels,
            new_labels=outcome.new_labels,
            current_version=outcome.current_version,
            candidate_version=outcome.candidate_version,
            current_macro_f1=outcome.current_macro_f1,
            candidate_macro_f1=outcome.candidate_macro_f1,
            promoted=outcome.promoted,
            reason=outcome.reason,
        )
    )


def promotion_message(
    outcome: RetrainOutcome, models_dir: Path, provenance: common_pb2.Provenance
) -> events_pb2.ModelPromotion:
    return events_pb2.ModelPromotion(
        model=outcome.task,
        language=outcome.language,
        version=outcome.candidate_version,
        previous_version=outcome.current_version,
        path=str(
            classifiers.version_dir(models_dir, outcome.language, outcome.task, outcome.candidate_version)
        ),
        metrics={"macro_f1": outcome.candidate_macro_f1},
        previous_metrics={"macro_f1": outcome.current_macro_f1},
        reviewed_labels=outcome.reviewed_labels,
        provenance=provenance,
    )


def retrain_classifiers(
    ctx: ServiceContext,
    models_dir: Path,
    min_new_labels: int,
    languages: Sequence[str] = (),
    tasks: Sequence[classifiers.Task] = classifiers.TASKS,
    corpus_dir: Path = classifiers.CORPUS,
) -> list[RetrainOutcome]:
    """Every corpus language's sentiment and intent model that has enough new reviewed labels.

    The training runs outside any transaction (it takes a minute on two cores); each run is then
    recorded, with its ``models.promoted.v1`` message when promoted, in one transaction."""
    outcomes = []
    for language in languages or classifiers.corpus_languages(corpus_dir):
        for task in tasks:
            with ctx.sessions() as session:
                todo = plan(session, language, task, min_new_labels)
            if todo is None:
                continue
            outcome = train_and_judge(todo, models_dir, corpus_dir)
            with ctx.unit_of_work() as (session, outbound):
                record(session, todo, outcome)
                if outcome.promoted:
                    message = promotion_message(outcome, models_dir, ctx.provenance())
                    outbound.append(Outbound(MODELS_PROMOTED.name, message, key=f"{language}/{task}"))
            outcomes.append(outcome)
    return outcomes


def outcomes_table(outcomes: Sequence[RetrainOutcome]) -> Table:
    table = Table(title="classifier retraining: candidate vs current on the fixed held-out set")
    for col in (
        "lang",
        "task",
        "new labels",
        "current",
        "macro-F1",
        "candidate",
        "macro-F1",
        "promoted",
        "why",
    ):
        table.add_column(col)
    for o in outcomes:
        promoted = "[green]yes" if o.promoted else "[red]no"
        table.add_row(
            o.language, o.task, str(o.new_labels), o.current_version or "-", f"{o.current_macro_f1:.3f}",
            o.candidate_version, f"{o.candidate_macro_f1:.3f}", promoted, o.reason,
        )  # fmt: skip
    return table
