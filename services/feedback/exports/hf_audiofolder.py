"""Hugging Face ``datasets`` audio folder: ``<split>/<utterance_id>.wav`` and one
``<split>/metadata.jsonl`` each, which ``load_dataset("audiofolder", data_dir=...)`` reads as it
is (a folder named ``dev`` becomes the ``validation`` split there).

Only JSONL metadata is written: ``datasets`` refuses a folder with metadata in two formats.

``datasets`` 5 encodes and decodes its ``Audio`` feature with torchcodec, even for a path; where
torchcodec does not load (beside torch 2.9.1 here: its wheel wants another CUDA), load with
``features=path_features()``: the rows then keep ``file_name`` (relative to their split's
folder) instead of an ``audio`` column, for soundfile to read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.feedback.exports.common import (
    ExportedFiles,
    SpanAudio,
    by_split,
    count_files,
    entities_json,
    in_blob_order,
    top_label,
    write_lines,
    write_span_wav,
)
from services.feedback.snapshot import SnapshotExample

METADATA = "metadata.jsonl"


# Every metadata column and its type; ``metadata_row`` fills exactly these.
COLUMNS = {
    "file_name": "string",
    **dict.fromkeys(("text", "speaker_id", "speaker", "language", "recording_id", "segment_id"), "string"),
    **dict.fromkeys(("start_s", "end_s", "duration_s"), "float64"),
    **dict.fromkeys(("sentiment", "intent", "entities", "draft_text"), "string"),
    "draft_wer": "float64",
}


def path_features() -> Any:
    """``datasets.Features`` of the metadata alone: no ``Audio`` column, so no torchcodec."""
    import datasets  # the `ml` extra

    return datasets.Features({k: datasets.Value(v) for k, v in COLUMNS.items()})


def metadata_row(item: SnapshotExample) -> dict[str, Any]:
    ex = item.example
    return {
        "file_name": f"{item.utterance_id}.wav",
        "text": ex.target_text,
        "speaker_id": ex.speaker_id,
        "speaker": ex.speaker,
        "language": ex.language,
        "recording_id": ex.context.recording_id,
        "segment_id": ex.segment_id,
        "start_s": round(ex.start_s, 3),
        "end_s": round(ex.end_s, 3),
        "duration_s": round(item.duration_s, 3),
        "sentiment": top_label(ex.sentiment),
        "intent": top_label(ex.intent),
        "entities": entities_json(item),
        "draft_text": ex.source_text,
        "draft_wer": round(ex.quality.draft_wer, 4),
    }


def write_audiofolder(examples: Sequence[SnapshotExample], audio: SpanAudio, out: Path) -> ExportedFiles:
    for split, items in by_split(examples).items():
        for item in in_blob_order(items):
            write_span_wav(audio, item, out / split / f"{item.utterance_id}.wav")
        write_lines(out / split / METADATA, (json.dumps(metadata_row(i), ensure_ascii=False) for i in items))
    return ExportedFiles("hf_audiofolder", out, count_files(out), len(examples))


def read_metadata(out: Path) -> dict[str, list[dict[str, Any]]]:
    """split -> metadata rows, for checks that need no ``datasets``."""
    return {
        path.parent.name: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        for path in sorted(out.glob(f"*/{METADATA}"))
    }
