"""`voxloop eval annotate`: entity F1 per language and type on the labelled sets, sentiment and
intent accuracy and macro-F1 on the held-out split, for every language of the corpus.

Everything goes through the service's own ``Labeller`` (model, patterns and the ``acme`` tenant
gazetteer, as a message of that tenant would). Entities match when label and character span are
exactly equal. The model's measured precision per label is also written to
``entity_precision.json``: it is the confidence the service gives the model's entities, and
decides which ones a person checks.
"""

from __future__ import annotations

import json
import platform
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protos import common_pb2
from services.annotate import classifiers
from services.annotate.labeller import PRECISION_FILE, Labeller
from services.annotate.settings import CORPUS, AnnotateSettings
from shared.settings import load_settings

EVAL_TENANT = "acme"


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def scores(self) -> dict[str, float]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return {"precision": p, "recall": r, "f1": f, "support": float(self.tp + self.fn)}


@dataclass
class LanguageResult:
    language: str
    pipeline: str
    entities: dict[str, dict[str, float]] = field(default_factory=dict)  # label -> scores; "ALL" micro
    model_precision: dict[str, float] = field(default_factory=dict)
    classification: dict[str, dict[str, float]] = field(default_factory=dict)  # task -> scores


def read_entity_set(language: str, corpus: Path = CORPUS) -> list[tuple[str, list[tuple[int, int, str]]]]:
    path = corpus / "entities" / f"{language}.jsonl"
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append((row["text"], [(int(s), int(e), str(lab)) for s, e, lab in row["entities"]]))
    return rows


def entity_scores(
    labeller: Labeller, language: str, rows: Sequence[tuple[str, Sequence[tuple[int, int, str]]]]
) -> tuple[dict[str, dict[str, float]], dict[str, float], str]:
    gold_labels = sorted({lab for _, ents in rows for _, _, lab in ents})
    segments = [common_pb2.TranscriptSegment(text=text, language=language) for text, _ in rows]
    labelled = labeller.label(segments, [EVAL_TENANT] * len(segments))
    counts = {label: Counts() for label in gold_labels}
    model_hits: Counter[str] = Counter()
    model_all: Counter[str] = Counter()
    for (_, gold), labels in zip(rows, labelled, strict=True):
        gold_set = set(gold)
        predicted = {(e.start_char, e.end_char, e.label) for e in labels.entities if e.label in counts}
        for span in predicted:
            counts[span[2]].tp += span in gold_set
            counts[span[2]].fp += span not in gold_set
        for span in gold_set - predicted:
            counts[span[2]].fn += 1
        for e in labels.entities:
            if e.source.startswith("model:") and e.label in counts:
                model_all[e.label] += 1
                model_hits[e.label] += (e.start_char, e.end_char, e.label) in gold_set
    total = Counts(*(sum(getattr(c, f) for c in counts.values()) for f in ("tp", "fp", "fn")))
    scores = {label: c.scores() for label, c in counts.items()} | {"ALL": total.scores()}
    precision = {label: model_hits[label] / n for label, n in model_all.items() if n}
    return scores, precision, labelled[0].pipeline if labelled else ""


def classification_scores(labeller: Labeller, language: str) -> dict[str, dict[str, float]]:
    test = [ex for ex in classifiers.read_corpus(language) if ex.split == "test"]
    segments = [common_pb2.TranscriptSegment(text=ex.text, language=language) for ex in test]
    labelled = labeller.label(segments, [""] * len(segments))
    results: dict[str, dict[str, float]] = {}
    for task in classifiers.TASKS:
        gold = [ex.label(task) for ex in test]
        predicted = [
            (lab.sentiment if task == "sentiment" else lab.intent)[0].label
            if (lab.sentiment if task == "sentiment" else lab.intent)
            else ""
            for lab in labelled
        ]
        scores = classifiers.classification_scores(gold, predicted)
        majority = Counter(gold).most_common(1)[0][1] / len(gold) if gold else 0.0
        results[task] = scores | {"majority_baseline": majority}
    return results


def run_eval(
    out: Path, models_dir: Path | None = None, write_calibration: bool = True
) -> list[LanguageResult]:
    settings = load_settings(
        AnnotateSettings, nlp_process=False, **({"models_dir": models_dir} if models_dir else {})
    )
    languages = sorted(
        set(classifiers.corpus_languages()) | {p.stem for p in (CORPUS / "entities").glob("*.jsonl")}
    )
    for _ in classifiers.train_all(settings.models_dir):  # kept when already trained
        pass
    labeller = Labeller(settings)
    started = time.perf_counter()
    results = []
    for language in languages:
        result = LanguageResult(language, labeller.pipeline(language).pipeline)
        if (CORPUS / "entities" / f"{language}.jsonl").is_file():
            result.entities, result.model_precision, _ = entity_scores(
                labeller, language, read_entity_set(language)
            )
        if (CORPUS / "classify" / f"{language}.jsonl").is_file():
            result.classification = classification_scores(labeller, language)
        results.append(result)
    if write_calibration:
        precision = {
            r.language: {k: round(v, 3) for k, v in r.model_precision.items()}
            for r in results
            if r.model_precision
        }
        PRECISION_FILE.write_text(json.dumps(precision, indent=2, sort_keys=True) + "\n")
    write_report(results, out, time.perf_counter() - started)
    return results


def _machine() -> dict[str, Any]:
    import os

    import spacy

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "spacy": spacy.about.__version__,
    }


def write_report(results: Sequence[LanguageResult], out: Path, runtime_s: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": _machine(),
        "runtime_s": round(runtime_s, 1),
        "languages": [r.__dict__ for r in results],
    }
    (out / "annotate_eval.json").write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    lines = [
        "# Annotation evaluation",
        "",
        "`voxloop eval annotate` on the project's labelled corpus (services/annotate/corpus, CC0).",
        "Entities: exact label and character span; labels the set does not annotate (NUMBER, MISC)",
        "are not scored.",
        "Classifiers: the held-out test split; the majority-class baseline for comparison.",
        "",
        "## Sentiment and intent",
        "",
        "| language | task | accuracy | macro-F1 | majority baseline | test lines |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        for task, s in r.classification.items():
            lines.append(
                f"| {r.language} | {task} | {s['accuracy']:.1%} | {s['macro_f1']:.1%} | "
                f"{s['majority_baseline']:.1%} | {int(s['examples'])} |"
            )
    lines += ["", "## Entities (F1 by type; precision / recall in the JSON)", ""]
    labels = sorted({label for r in results for label in r.entities if label != "ALL"})
    lines.append("| language | pipeline | all (micro) | " + " | ".join(labels) + " |")
    lines.append("|---|---|---|" + "---|" * len(labels))
    for r in results:
        if r.entities:
            cells = [f"{r.entities[label]['f1']:.2f}" if label in r.entities else "" for label in labels]
            a = r.entities["ALL"]
            overall = f"F1 {a['f1']:.2f} (P {a['precision']:.2f}, R {a['recall']:.2f})"
            lines.append(f"| {r.language} | {r.pipeline} | {overall} | " + " | ".join(cells) + " |")
    lines += ["", f"Machine: {_machine()}; {runtime_s:.0f} s.", ""]
    (out / "annotate_eval.md").write_text("\n".join(lines))
