"""NeMo ASR manifests: one JSON line per utterance and split (``<split>_manifest.json``), each
pointing at a WAV of the span alone (so ``offset`` is 0). The audio folder's WAVs are used when it
is written in the same export root; paths are relative to the manifest, which NeMo resolves."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.feedback.exports.common import (
    ExportedFiles,
    SpanAudio,
    by_split,
    in_blob_order,
    relative,
    span_wav_path,
    write_lines,
    write_span_wav,
)
from services.feedback.snapshot import SnapshotExample


@dataclass(frozen=True)
class ManifestEntry:
    audio_filepath: Path  # resolved against the manifest's folder
    duration: float
    offset: float
    text: str
    lang: str
    speaker: str


def manifest_path(out: Path, split: str) -> Path:
    return out / f"{split}_manifest.json"


def write_nemo(examples: Sequence[SnapshotExample], audio: SpanAudio, out: Path) -> ExportedFiles:
    out.mkdir(parents=True, exist_ok=True)
    shared = 0
    for split, items in by_split(examples).items():
        lines: dict[str, str] = {}  # utterance id -> line: written in utterance order
        for item in in_blob_order(items):
            wav, is_shared = span_wav_path(out, item)
            if is_shared:
                shared += 1
            else:
                write_span_wav(audio, item, wav)
            entry = {
                "audio_filepath": relative(wav, out),
                "duration": round(item.duration_s, 3),
                "offset": 0.0,
                "text": item.example.target_text,
                "lang": item.example.language,
                "speaker": item.speaker_key,
            }
            lines[item.utterance_id] = json.dumps(entry, ensure_ascii=False)
        write_lines(manifest_path(out, split), (lines[utt] for utt in sorted(lines)))
    files = sum(1 for p in out.rglob("*") if p.is_file())
    return ExportedFiles("nemo", out, files, len(examples), {"shared_audio_files": shared})


def read_nemo(manifest: Path) -> list[ManifestEntry]:
    entries = []
    for line in manifest.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        path = Path(row["audio_filepath"])
        entries.append(
            ManifestEntry(
                audio_filepath=path if path.is_absolute() else (manifest.parent / path).resolve(),
                duration=float(row["duration"]),
                offset=float(row.get("offset", 0.0)),
                text=row["text"],
                lang=row.get("lang", ""),
                speaker=str(row.get("speaker", "")),
            )
        )
    return entries
