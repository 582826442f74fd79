"""Kaldi data directories, one per split (``<out>/<split>/``), over whole blobs: ``wav.scp`` names
each audio blob once (decoded to a 16 kHz WAV under ``<out>/audio/``) and ``segments`` cuts the
utterances out of it. Every table is sorted in ``LC_ALL=C`` order and utterance ids start with the
speaker id, which is what ``utils/validate_data_dir.sh`` demands (``validate_data_dir`` here checks
the same rules without Kaldi)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.feedback.exports.common import (
    ExportedFiles,
    SpanAudio,
    blob_key,
    by_split,
    count_files,
    one_line,
    recording_key,
    write_bytes,
    write_lines,
)
from services.feedback.snapshot import SnapshotExample
from shared.audio import TARGET_RATE_HZ, to_wav

TABLES = ("wav.scp", "segments", "text", "utt2spk", "spk2utt", "utt2dur", "utt2lang")


def c_sorted(lines: list[str]) -> list[str]:
    """``LC_ALL=C sort``: byte order, which for UTF-8 is code point order."""
    return sorted(lines, key=lambda line: line.encode("utf-8"))


def kaldi_recording_id(item: SnapshotExample) -> str:
    """One Kaldi recording per blob: a recording stored in chunks has several."""
    return f"{recording_key(item)}-{blob_key(item.example.audio)[:12]}"


def write_kaldi(examples: Sequence[SnapshotExample], audio: SpanAudio, out: Path) -> ExportedFiles:
    for split, items in by_split(examples).items():
        folder = out / split
        wavs: dict[str, str] = {}
        rows: dict[str, list[str]] = {name: [] for name in TABLES}
        speakers: dict[str, list[str]] = {}
        for item in items:
            ex, utt, spk = item.example, item.utterance_id, item.speaker_key
            rec = kaldi_recording_id(item)
            if rec not in wavs:
                wav = out / "audio" / f"{rec}.wav"
                if not wav.exists():
                    write_bytes(wav, to_wav(audio.blob(ex.audio)))
                wavs[rec] = f"{rec} {wav.resolve()}"
            end_s = item.offset_s + item.duration_s
            rows["segments"].append(f"{utt} {rec} {item.offset_s:.3f} {end_s:.3f}")
            rows["text"].append(f"{utt} {one_line(ex.target_text)}".rstrip())
            rows["utt2spk"].append(f"{utt} {spk}")
            rows["utt2dur"].append(f"{utt} {item.duration_s:.3f}")
            rows["utt2lang"].append(f"{utt} {ex.language or 'unk'}")
            speakers.setdefault(spk, []).append(utt)
        rows["wav.scp"] = list(wavs.values())
        rows["spk2utt"] = [f"{spk} {' '.join(sorted(utts))}" for spk, utts in speakers.items()]
        for name in TABLES:
            write_lines(folder / name, c_sorted(rows[name]))
    return ExportedFiles("kaldi", out, count_files(out), len(examples))


@dataclass
class KaldiDir:
    """A data directory's tables, read back: the first field is the key, the rest the value."""

    tables: dict[str, dict[str, str]] = field(default_factory=dict)

    def table(self, name: str) -> dict[str, str]:
        return self.tables.get(name, {})


def read_table(path: Path) -> dict[str, str]:
    table = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(" ")
        table[key] = value
    return table


def read_kaldi(folder: Path) -> KaldiDir:
    return KaldiDir({name: read_table(folder / name) for name in TABLES if (folder / name).exists()})


def validate_data_dir(folder: Path) -> list[str]:
    """The rules of Kaldi's ``utils/validate_data_dir.sh`` (and of the sorted-table checks it runs),
    as problems found; empty when the directory would pass."""
    problems = []
    for name in TABLES:
        path = folder / name
        if not path.exists():
            problems.append(f"{name} is missing")
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        keys = [line.split(" ", 1)[0] for line in lines]
        if lines != c_sorted(lines) or len(set(keys)) != len(keys):
            problems.append(f"{name} is not sorted and unique (LC_ALL=C)")
        if any(not line.strip() or "\t" in line or "  " in line for line in lines):
            problems.append(f"{name} has empty lines, tabs or double spaces")
    if problems:
        return problems
    data = read_kaldi(folder)
    utt2spk = data.table("utt2spk")
    utts = set(utt2spk)
    for name in ("text", "segments", "utt2dur", "utt2lang"):
        if set(data.table(name)) != utts:
            problems.append(f"{name} and utt2spk name different utterances")
    # `sort -k2 utt2spk` must not reorder it: speaker ids are prefixes of utterance ids.
    lines = [f"{u} {s}" for u, s in utt2spk.items()]
    if sorted(lines, key=lambda ln: (ln.split(" ", 1)[1].encode(), ln.encode())) != lines:
        problems.append("utt2spk is not in sorted order when sorted first on speaker-id")
    if any(not u.startswith(s) for u, s in utt2spk.items()):
        problems.append("an utterance id does not start with its speaker id")
    inverse: dict[str, list[str]] = {}
    for utt, spk in utt2spk.items():
        inverse.setdefault(spk, []).append(utt)
    if {s: " ".join(sorted(u)) for s, u in inverse.items()} != data.table("spk2utt"):
        problems.append("spk2utt is not the inverse of utt2spk")
    wav_scp = data.table("wav.scp")
    used = set()
    for utt, value in data.table("segments").items():
        rec, start, end = value.split()
        used.add(rec)
        if rec not in wav_scp:
            problems.append(f"segment {utt} names recording {rec}, which wav.scp lacks")
        if not 0 <= float(start) < float(end):
            problems.append(f"segment {utt} has start {start} and end {end}")
    if used != set(wav_scp):
        problems.append("wav.scp names recordings no segment uses")
    for utt, dur in data.table("utt2dur").items():
        if float(dur) <= 0:
            problems.append(f"utterance {utt} has duration {dur}")
    return problems


def segment_samples(start_s: float, end_s: float) -> tuple[int, int]:
    """A ``segments`` line's (first sample, count), as Kaldi's extract-segments cuts it."""
    first = round(start_s * TARGET_RATE_HZ)
    return first, round(end_s * TARGET_RATE_HZ) - first
