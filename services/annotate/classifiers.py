"""Sentiment and intent classifiers: the labelled corpus, training from ``textcat.cfg``, the
trained models on disk with a card that says what they are and how well they did.

A model lives in ``<models_dir>/annotate/<lang>/<task>/``: a spaCy pipeline with one ``textcat``
component plus ``card.json``. Its version is a hash of what made it (the training lines, the
config, the seed and spaCy's version), so training again from the same inputs is skipped.
"""

from __future__ import annotations

import hashlib
import json
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

    def write(self, folder: Path) -> None:
        (folder / "card.json").write_text(json.dumps(asdict(self), indent=2, sort_keys=True))

    @classmethod
    def read(cls, folder: Path) -> ModelCard | None:
        path = folder / "card.json"
        return cls(**json.loads(path.read_text())) if path.is_file() else None


def model_dir(models_dir: Path, language: str, task: Task) -> Path:
    return models_dir / "annotate" / language / task


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
) -> tuple[ModelCard, bool]:
    """Train (or keep) the ``task`` classifier of ``language``; returns its card and whether it
    was trained now. ``examples`` default to the shipped corpus; the test split is never trained on."""
    from spacy.cli.train import train as spacy_train

    examples = list(examples) if examples is not None else read_corpus(language)
    version = training_version(examples, task)
    target = model_dir(models_dir, language, task)
    existing = ModelCard.read(target)
    if existing is not None and existing.version == version and not force:
        return existing, False
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
        )
        staging = target.with_name(target.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        nlp.to_disk(staging)
        card.write(staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return card, True


def train_all(
    models_dir: Path, languages: Sequence[str] = (), force: bool = False
) -> Iterator[tuple[ModelCard, bool]]:
    """Every task's classifier of these languages (default: every corpus language), one at a time."""
    for language in languages or corpus_languages():
        for task in TASKS:
            yield train(language, task, models_dir, force=force)


def load(models_dir: Path, language: str, task: Task) -> tuple[Language, ModelCard] | None:
    """The trained classifier and its card, or None when this language has none."""
    folder = model_dir(models_dir, language, task)
    card = ModelCard.read(folder)
    if card is None:
        return None
    return spacy.load(folder), card


def trained_languages(models_dir: Path) -> Iterator[str]:
    root = models_dir / "annotate"
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if all(ModelCard.read(folder / task) for task in TASKS):
                yield folder.name
