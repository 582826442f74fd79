"""Sentiment and intent classifiers: the labelled corpus, training from ``textcat.cfg``, the
trained models on disk with a card that says what they are and how well they did.

The models of a language's task form a small registry, ``<models_dir>/annotate/<lang>/<task>/``:
``versions/<version>/`` holds each trained version (a spaCy pipeline with one ``textcat``
component plus ``card.json``) and ``CURRENT`` names the one in use, replaced atomically, so a
promotion (the feedback service's retraining) is one rename and a service reloads the new one
without a restart. A version is a hash of what made it (the training lines, the config, the
seed and spaCy's version), so training again from the same inputs is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import spacy
from spacy.language import Language
from spacy.tokens import DocBin

CORPUS = Path(__file__).parent / "corpus"
CONFIG = Path(__file__).parent / "textcat.cfg"
TASKS: tuple[Task, ...] = ("sentiment", "intent")
Task = Literal["sentiment", "intent"]
SEED = 0


@dataclass(frozen=True)
class Example:
    text: str
    sentiment: str
    intent: str
    split: str  # "train", "dev" (carved from train by a stable hash) or "test"
    reviewed: bool = False  # a label a person checked in the flow (not a corpus line)

    def label(self, task: Task) -> str:
        return self.sentiment if task == "sentiment" else self.intent


def read_corpus(language: str, corpus: Path = CORPUS) -> list[Example]:
    """The language's labelled lines; one train line in seven becomes dev, by a hash of its text
    (the split never changes when lines are added elsewhere)."""
    path = corpus / "classify" / f"{language}.jsonl"
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            split = row["split"]
            if split == "train" and int(hashlib.sha256(row["text"].encode()).hexdigest(), 16) % 7 == 0:
                split = "dev"
            examples.append(Example(row["text"], row["sentiment"], row["intent"], split))
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{path}:{number}: not a labelled line ({exc!r})") from None
    return examples


def corpus_languages(corpus: Path = CORPUS) -> list[str]:
    return sorted(p.stem for p in (corpus / "classify").glob("*.jsonl"))


@dataclass
class ModelCard:
    language: str
    task: str
    version: str
    labels: list[str]
    trained_at: float
    train_examples: int
    test_scores: dict[str, float] = field(default_factory=dict)  # accuracy, macro_f1 on the test split
    reviewed_labels: int = 0  # human-reviewed labels among the training lines (0: the corpus alone)

    def write(self, folder: Path) -> None:
        (folder / "card.json").write_text(json.dumps(asdict(self), indent=2, sort_keys=True))

    @classmethod
    def read(cls, folder: Path) -> ModelCard | None:
        path = folder / "card.json"
        return cls(**json.loads(path.read_text())) if path.is_file() else None


def model_dir(models_dir: Path, language: str, task: Task) -> Path:
    """The task's registry folder."""
    return models_dir / "annotate" / language / task


def version_dir(models_dir: Path, language: str, task: Task, version: str) -> Path:
    return model_dir(models_dir, language, task) / "versions" / version


def current_version(models_dir: Path, language: str, task: Task) -> str | None:
    pointer = model_dir(models_dir, language, task) / "CURRENT"
    version = pointer.read_text().strip() if pointer.is_file() else ""
    return version if version and version_dir(models_dir, language, task, version).is_dir() else None


def current_dir(models_dir: Path, language: str, task: Task) -> Path | None:
    """The folder of the version in use; a model trained before the registry (card.json directly
    in the task folder) is used as it is until ``train`` moves it into the registry."""
    version = current_version(models_dir, language, task)
    if version is not None:
        return version_dir(models_dir, language, task, version)
    flat = model_dir(models_dir, language, task)
    return flat if ModelCard.read(flat) is not None else None


def loaded_version(models_dir: Path, language: str, task: Task) -> str | None:
    """The version ``load`` would load now."""
    folder = current_dir(models_dir, language, task)
    card = ModelCard.read(folder) if folder is not None else None
    return card.version if card is not None else None


def promote(models_dir: Path, language: str, task: Task, version: str) -> None:
    """Make ``version`` the one in use: CURRENT is written beside and renamed over (atomic)."""
    if ModelCard.read(version_dir(models_dir, language, task, version)) is None:
        raise ValueError(f"no trained {language}/{task} classifier version {version!r}")
    folder = model_dir(models_dir, language, task)
    staging = folder / f".CURRENT.{os.getpid()}"
    staging.write_text(version + "\n")
    os.replace(staging, folder / "CURRENT")


def _adopt_flat(models_dir: Path, language: str, task: Task) -> None:
    """Move a model from before the registry into it, as its current version."""
    folder = model_dir(models_dir, language, task)
    card = ModelCard.read(folder)
    if card is None or (folder / "versions").is_dir():
        return
    target = version_dir(models_dir, language, task, card.version)
    target.mkdir(parents=True)
    for item in list(folder.iterdir()):
        if item.name != "versions":
            item.rename(target / item.name)
    promote(models_dir, language, task, card.version)


def training_version(examples: Sequence[Example], task: Task) -> str:
    digest = hashlib.sha256()
    for part in (CONFIG.read_text(), spacy.about.__version__, str(SEED)):
        digest.update(part.encode())
    for ex in examples:
        if ex.split != "test":
            digest.update(f"{ex.split}\t{ex.label(task)}\t{ex.text}\n".encode())
    return digest.hexdigest()[:12]


def _docbin(nlp: Language, examples: Sequence[Example], task: Task, labels: Sequence[str]) -> DocBin:
    docs = DocBin()
    for ex, doc in zip(examples, (nlp.make_doc(ex.text) for ex in examples), strict=True):
        doc.cats = {label: float(label == ex.label(task)) for label in labels}
        docs.add(doc)
    return docs


def score(nlp: Language, examples: Sequence[Example], task: Task) -> dict[str, float]:
    """Accuracy and macro-F1 of the model's top label against the examples' labels."""
    gold = [ex.label(task) for ex in examples]
    predicted = [max(doc.cats, key=doc.cats.__getitem__) for doc in nlp.pipe(ex.text for ex in examples)]
    return classification_scores(gold, predicted)


def classification_scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    labels = sorted(set(gold) | set(predicted))
    f1s = []
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == label != g for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label != p for g, p in zip(gold, predicted, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold) if gold else 0.0
    return {
        "accuracy": accuracy,
        "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0,
        "examples": float(len(gold)),
    }


def train(
    language: str,
    task: Task,
    models_dir: Path,
    examples: Sequence[Example] | None = None,
    force: bool = False,
    make_current: bool | None = None,
) -> tuple[ModelCard, bool]:
    """Train (or keep) a version of the ``task`` classifier of ``language``; returns its card and
    whether it was trained now. ``examples`` default to the shipped corpus; the test split is
    never trained on. ``make_current``: None makes it current when no version is, or when the
    current one was trained on the corpus alone (so a corpus update reaches the service, but a
    version promoted from reviewed labels is kept); True or False decide."""
    from spacy.cli.train import train as spacy_train

    _adopt_flat(models_dir, language, task)
    examples = list(examples) if examples is not None else read_corpus(language)
    version = training_version(examples, task)
    target = version_dir(models_dir, language, task, version)
    card = ModelCard.read(target)
    trained = card is None or force
    if trained:
        labels = sorted({ex.label(task) for ex in examples})
        blank = spacy.blank(language)
        with tempfile.TemporaryDirectory(prefix="voxloop-textcat-") as tmp:
            paths = {}
            for split in ("train", "dev"):
                part = [ex for ex in examples if ex.split == split]
                if not part:
                    raise ValueError(f"no {split} examples for {language}/{task}")
                paths[split] = Path(tmp) / f"{split}.spacy"
                _docbin(blank, part, task, labels).to_disk(paths[split])
            spacy_train(
                CONFIG,
                Path(tmp) / "out",
                use_gpu=-1,
                overrides={
                    "paths.train": str(paths["train"]),
                    "paths.dev": str(paths["dev"]),
                    "nlp.lang": language,
                },
            )
            nlp = spacy.load(Path(tmp) / "out" / "model-best")
            test = [ex for ex in examples if ex.split == "test"]
            card = ModelCard(
                language=language,
                task=task,
                version=version,
                labels=labels,
                trained_at=time.time(),
                train_examples=sum(ex.split == "train" for ex in examples),
                test_scores=score(nlp, test, task) if test else {},
                reviewed_labels=sum(ex.reviewed for ex in examples),
            )
            staging = target.with_name(target.name + ".new")
            shutil.rmtree(staging, ignore_errors=True)
            staging.parent.mkdir(parents=True, exist_ok=True)
            nlp.to_disk(staging)
            card.write(staging)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
    assert card is not None
    if make_current is None:
        current = current_dir(models_dir, language, task)
        in_use = ModelCard.read(current) if current is not None else None
        make_current = in_use is None or in_use.reviewed_labels == 0
    if make_current:
        promote(models_dir, language, task, version)
    return card, trained


def train_all(
    models_dir: Path, languages: Sequence[str] = (), force: bool = False
) -> Iterator[tuple[ModelCard, bool]]:
    """Every task's classifier of these languages (default: every corpus language), one at a time."""
    for language in languages or corpus_languages():
        for task in TASKS:
            yield train(language, task, models_dir, force=force)


def load(models_dir: Path, language: str, task: Task) -> tuple[Language, ModelCard] | None:
    """The current version of the classifier and its card, or None when this language has none."""
    folder = current_dir(models_dir, language, task)
    card = ModelCard.read(folder) if folder is not None else None
    if folder is None or card is None:
        return None
    return spacy.load(folder), card


def trained_languages(models_dir: Path) -> Iterator[str]:
    root = models_dir / "annotate"
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if all(current_dir(models_dir, folder.name, task) for task in TASKS):
                yield folder.name
