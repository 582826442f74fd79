"""spaCy training data: one DocBin per language and split (``<language>/<split>.spacy``), tokenised
by that language's blank pipeline, with ``doc.ents`` from the validated entities and ``doc.cats``
for sentiment and intent.

Choice: one DocBin for both tasks, the categories prefixed ``sentiment:`` and ``intent:``; each
task is one-hot over every label the snapshot has for it (the top label 1.0), so a ``textcat``
per task, given that task's labels, trains on the same files. An example without a label for a
task has no categories of it: missing, not negative.

Entity character spans are widened to whole tokens (``alignment_mode="expand"``); spans that fall
outside the text or overlap a longer one are dropped and counted (``notes["dropped_entities"]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.feedback.exports.common import ExportedFiles, SpanAudio, by_split, count_files, top_label
from services.feedback.snapshot import SnapshotExample

TASKS = ("sentiment", "intent")
MULTI_LANGUAGE = "xx"  # spaCy's multi-language tokenizer, for languages it has no class for


@dataclass(frozen=True)
class DocRecord:
    """A doc read back: what the export put in."""

    segment_id: str
    text: str
    ents: list[tuple[int, int, str]]
    cats: dict[str, float]


def spacy_language(language: str) -> str:
    """BCP-47 "fr-CH" -> spaCy's "fr", or "xx" when spaCy has no such language."""
    from spacy.util import get_lang_class

    code = language.split("-")[0].split("_")[0].lower()
    try:
        get_lang_class(code)
    except ImportError:
        return MULTI_LANGUAGE
    return code or MULTI_LANGUAGE


def task_labels(examples: Sequence[SnapshotExample]) -> dict[str, list[str]]:
    labels: dict[str, set[str]] = {task: set() for task in TASKS}
    for item in examples:
        for task in TASKS:
            labels[task].update(score.label for score in getattr(item.example, task) if score.label)
    return {task: sorted(found) for task, found in labels.items()}


def cats_for(item: SnapshotExample, labels: dict[str, list[str]]) -> dict[str, float]:
    cats = {}
    for task in TASKS:
        top = top_label(getattr(item.example, task))
        if top:
            cats.update({f"{task}:{label}": float(label == top) for label in labels[task]})
    return cats


def write_docbin(examples: Sequence[SnapshotExample], audio: SpanAudio, out: Path) -> ExportedFiles:
    import spacy
    from spacy.tokens import DocBin
    from spacy.util import filter_spans

    labels = task_labels(examples)
    pipelines: dict[str, Any] = {}
    dropped = 0
    for split, items in by_split(examples).items():
        bins: dict[str, Any] = {}
        for item in items:
            ex = item.example
            lang = spacy_language(ex.language)
            if lang not in pipelines:
                pipelines[lang] = spacy.blank(lang)
            doc = pipelines[lang].make_doc(ex.target_text)
            spans = [
                doc.char_span(e.start_char, e.end_char, label=e.label, alignment_mode="expand")
                for e in ex.entities
            ]
            kept = filter_spans([s for s in spans if s is not None])
            dropped += len(spans) - len(kept)
            doc.ents = kept
            doc.cats = cats_for(item, labels)
            doc.user_data["segment_id"] = ex.segment_id
            doc.user_data["utterance_id"] = item.utterance_id
            bins.setdefault(lang, DocBin(store_user_data=True)).add(doc)
        for lang, docbin in bins.items():
            path = out / lang / f"{split}.spacy"
            path.parent.mkdir(parents=True, exist_ok=True)
            docbin.to_disk(path)
    return ExportedFiles("docbin", out, count_files(out), len(examples), {"dropped_entities": dropped})


def read_docbin(path: Path) -> list[DocRecord]:
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank(path.parent.name)
    return [
        DocRecord(
            segment_id=str(doc.user_data.get("segment_id", "")),
            text=doc.text,
            ents=[(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents],
            cats=dict(doc.cats),
        )
        for doc in DocBin().from_disk(path).get_docs(nlp.vocab)
    ]
