"""Label Studio import: ``tasks.json`` (a list of tasks) and ``config.xml``, the labelling config
the results refer to (``label`` spans on ``text``, ``sentiment`` and ``intent`` choices), so a
reviewer can re-check or extend the labels in Label Studio.

Labels a person reviewed come as ``annotations``; the classifiers' labels as ``predictions``
(with their confidence as the score), which Label Studio shows as pre-annotations to accept.
``data.audio`` is the span's WAV relative to ``tasks.json`` after ``audio_url_prefix`` (e.g.
``/data/local-files/?d=`` for a local-files storage).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.feedback.exports.common import (
    ExportedFiles,
    SpanAudio,
    by_split,
    count_files,
    in_blob_order,
    relative,
    span_wav_path,
    top_label,
    write_span_wav,
)
from services.feedback.snapshot import SnapshotExample

TASKS_FILE = "tasks.json"
CONFIG_FILE = "config.xml"
CHOICE_TASKS = ("sentiment", "intent")


@dataclass(frozen=True)
class LabelledTask:
    """A task read back."""

    data: dict[str, Any]
    audio_path: Path
    text: str
    reviewed: bool
    entities: list[tuple[int, int, str, str]]  # start, end, text, label
    choices: dict[str, str]  # "sentiment"/"intent" -> the chosen label


def labelling_config(examples: Sequence[SnapshotExample]) -> str:
    view = ET.Element("View")
    ET.SubElement(view, "Audio", name="audio", value="$audio")
    labels = ET.SubElement(view, "Labels", name="label", toName="text")
    for label in sorted({e.label for i in examples for e in i.example.entities}):
        ET.SubElement(labels, "Label", value=label)
    ET.SubElement(view, "Text", name="text", value="$text")
    for task in CHOICE_TASKS:
        choices = ET.SubElement(view, "Choices", name=task, toName="text", choice="single")
        for label in sorted({s.label for i in examples for s in getattr(i.example, task) if s.label}):
            ET.SubElement(choices, "Choice", value=label)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def results(item: SnapshotExample) -> list[dict[str, Any]]:
    ex, utt = item.example, item.utterance_id
    found: list[dict[str, Any]] = [
        {
            "id": f"{utt}-e{n}",
            "from_name": "label",
            "to_name": "text",
            "type": "labels",
            "value": {
                "start": e.start_char,
                "end": e.end_char,
                "text": ex.target_text[e.start_char : e.end_char],
                "labels": [e.label],
            },
        }
        for n, e in enumerate(ex.entities)
    ]
    for task in CHOICE_TASKS:
        top = top_label(getattr(ex, task))
        if top:
            found.append(
                {
                    "id": f"{utt}-{task}",
                    "from_name": task,
                    "to_name": "text",
                    "type": "choices",
                    "value": {"choices": [top]},
                }
            )
    return found


def task_for(item: SnapshotExample, audio_url: str) -> dict[str, Any]:
    ex = item.example
    data = {
        "audio": audio_url,
        "text": ex.target_text,
        "segment_id": ex.segment_id,
        "utterance_id": item.utterance_id,
        "recording_id": ex.context.recording_id,
        "speaker_id": ex.speaker_id,
        "speaker": ex.speaker,
        "language": ex.language,
        "split": item.split,
        "start_s": round(ex.start_s, 3),
        "end_s": round(ex.end_s, 3),
        "draft_text": ex.source_text,
        "draft_wer": round(ex.quality.draft_wer, 4),
    }
    result = results(item)
    if ex.labels_reviewed:
        return {"data": data, "annotations": [{"result": result}]}
    scores = [s.confidence for task in CHOICE_TASKS for s in getattr(ex, task)]
    score = round(min(scores), 4) if scores else 0.0
    version = ex.origin.classifier_version or "classifier"
    return {"data": data, "predictions": [{"model_version": version, "score": score, "result": result}]}


def write_label_studio(
    examples: Sequence[SnapshotExample], audio: SpanAudio, out: Path, audio_url_prefix: str = ""
) -> ExportedFiles:
    out.mkdir(parents=True, exist_ok=True)
    tasks = []
    for items in by_split(examples).values():
        in_split = {}
        for item in in_blob_order(items):
            wav, shared = span_wav_path(out, item)
            if not shared:
                write_span_wav(audio, item, wav)
            in_split[item.utterance_id] = task_for(item, audio_url_prefix + relative(wav, out))
        tasks += [in_split[utt] for utt in sorted(in_split)]
    (out / TASKS_FILE).write_text(json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")
    (out / CONFIG_FILE).write_text(labelling_config(examples), encoding="utf-8")
    return ExportedFiles("label_studio", out, count_files(out), len(examples))


def read_label_studio(out: Path, audio_url_prefix: str = "") -> list[LabelledTask]:
    tasks = []
    for task in json.loads((out / TASKS_FILE).read_text(encoding="utf-8")):
        reviewed = bool(task.get("annotations"))
        result = (task.get("annotations") or task.get("predictions") or [{"result": []}])[0]["result"]
        entities = [
            (r["value"]["start"], r["value"]["end"], r["value"]["text"], r["value"]["labels"][0])
            for r in result
            if r["type"] == "labels"
        ]
        choices = {r["from_name"]: r["value"]["choices"][0] for r in result if r["type"] == "choices"}
        data = task["data"]
        audio = (out / data["audio"].removeprefix(audio_url_prefix)).resolve()
        tasks.append(LabelledTask(data, audio, data["text"], reviewed, entities, choices))
    return tasks
