"""What every export needs: the examples' audio spans, cut once per blob, and the grouping of
examples by split and by recording, in an order that is the same on every run."""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from protos import common_pb2
from services.feedback.examples import top_label as top_label  # re-exported for the writers
from services.feedback.snapshot import SPLITS, AudioSource, SnapshotExample, safe_id
from shared.audio import TARGET_RATE_HZ, decode_container, decode_pcm16, from_pcm16, to_wav

# A blob is a recording or a chunk of one; longer than this is not something we stored.
MAX_BLOB_DURATION_S = 6 * 3600.0
# Where the audio folder keeps its span files; NeMo and Label Studio point at them when the
# audio folder is written in the same export root, instead of writing the same audio twice.
AUDIOFOLDER_DIR = "hf_audiofolder"


@dataclass(frozen=True)
class ExportedFiles:
    """What one format wrote: its folder, how many files and examples, and anything dropped."""

    format: str
    path: Path
    files: int = 0
    examples: int = 0
    notes: dict[str, int] = field(default_factory=dict)


class SpanAudio:
    """Decodes blobs (16 kHz mono float32) and hands out examples' spans of them. The most recently
    used blobs are kept up to ``max_cached_s`` of audio (an hour is 230 MB), so writers that go
    through examples in blob order (``in_blob_order``) fetch and decode each blob once."""

    def __init__(self, source: AudioSource, max_cached_s: float = 3600.0) -> None:
        self._source = source
        self._max_cached_samples = int(max_cached_s * TARGET_RATE_HZ)
        self._decoded: OrderedDict[str, NDArray[np.float32]] = OrderedDict()

    def blob(self, ref: common_pb2.AudioRef) -> NDArray[np.float32]:
        key = blob_key(ref)
        if key in self._decoded:
            self._decoded.move_to_end(key)
            return self._decoded[key]
        samples = self._decode(ref, self._source(ref))
        self._decoded[key] = samples
        while len(self._decoded) > 1 and sum(map(len, self._decoded.values())) > self._max_cached_samples:
            self._decoded.popitem(last=False)
        return samples

    @staticmethod
    def _decode(ref: common_pb2.AudioRef, data: bytes) -> NDArray[np.float32]:
        if ref.encoding == "pcm_s16le":
            rate, channels = ref.sample_rate_hz or TARGET_RATE_HZ, ref.channels or 1
            if (rate, channels) == (TARGET_RATE_HZ, 1):
                return from_pcm16(data)
            return decode_pcm16(data, rate, channels, MAX_BLOB_DURATION_S).samples
        # A container (WAV, FLAC, Opus...): FFmpeg reads them all.
        return decode_container(data, MAX_BLOB_DURATION_S).samples

    def span(self, item: SnapshotExample) -> NDArray[np.float32]:
        start, count = span_samples(item)
        return self.blob(item.example.audio)[start : start + count]


def in_blob_order(items: Iterable[SnapshotExample]) -> list[SnapshotExample]:
    """The order to cut spans in: blob by blob, so each is decoded once."""
    return sorted(items, key=lambda i: (blob_key(i.example.audio), i.offset_s, i.utterance_id))


def span_samples(item: SnapshotExample) -> tuple[int, int]:
    """(first sample, sample count) of the example inside its blob."""
    return round(item.offset_s * TARGET_RATE_HZ), round(item.duration_s * TARGET_RATE_HZ)


def blob_key(ref: common_pb2.AudioRef) -> str:
    return ref.sha256 or hashlib.sha256(ref.uri.encode()).hexdigest()


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_span_wav(audio: SpanAudio, item: SnapshotExample, path: Path) -> None:
    write_bytes(path, to_wav(audio.span(item)))


def span_wav_path(out: Path, item: SnapshotExample) -> tuple[Path, bool]:
    """The example's span WAV for a format written at ``out``: the audio folder's file when one
    is already in the same export root (True), else a file of the format's own (False)."""
    shared = out.parent / AUDIOFOLDER_DIR / item.split / f"{item.utterance_id}.wav"
    if shared.exists():
        return shared, True
    return out / "audio" / item.split / f"{item.utterance_id}.wav", False


def relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def by_split(examples: Iterable[SnapshotExample]) -> dict[str, list[SnapshotExample]]:
    """Examples per split, splits in SPLITS order then any other, each sorted by utterance id."""
    groups: dict[str, list[SnapshotExample]] = {}
    for item in examples:
        groups.setdefault(item.split, []).append(item)
    order = [s for s in SPLITS if s in groups] + sorted(set(groups) - set(SPLITS))
    return {s: sorted(groups[s], key=lambda i: i.utterance_id) for s in order}


def recording_key(item: SnapshotExample) -> str:
    return safe_id(item.example.context.recording_id or item.example.audio.uri)


def by_recording(examples: Iterable[SnapshotExample]) -> dict[str, list[SnapshotExample]]:
    """Examples per recording (safe id), sorted by start time: one file or turn list each."""
    groups: dict[str, list[SnapshotExample]] = {}
    for item in examples:
        groups.setdefault(recording_key(item), []).append(item)
    return {
        rec: sorted(groups[rec], key=lambda i: (i.example.start_s, i.utterance_id)) for rec in sorted(groups)
    }


def one_line(text: str) -> str:
    """Line-based formats cannot hold a newline or a tab inside a text."""
    return " ".join(text.split())


def entities_json(item: SnapshotExample) -> str:
    """Entities as one JSON string: a column whose type is the same whatever the entities."""
    return json.dumps(
        [
            {
                "label": e.label,
                "text": e.text,
                "start_char": e.start_char,
                "end_char": e.end_char,
                "start_s": round(e.start_s, 3),
                "end_s": round(e.end_s, 3),
                "speaker": e.speaker,
            }
            for e in item.example.entities
        ],
        ensure_ascii=False,
    )


def write_lines(path: Path, lines: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for line in lines:
            handle.write(line + "\n")


def count_files(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.is_file())
