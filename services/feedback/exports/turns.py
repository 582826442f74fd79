"""Scoring files per split, over whole recordings (recording time, file id = the recording):
RTTM speaker turns for diarization scoring (pyannote.metrics, dscore), and sclite's STM
reference segments and CTM time-marked words (confidence = the word's probability).

Speakers are the examples' speaker ids where a word's diarization label is one an example of the
recording carries, so they match the Kaldi and NeMo exports; other labels are kept as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.feedback.exports.common import (
    ExportedFiles,
    SpanAudio,
    by_recording,
    by_split,
    count_files,
    one_line,
)
from services.feedback.snapshot import SnapshotExample, safe_id

# Consecutive words of one speaker closer than this are one turn; a longer pause starts another (the
# collar that diarization scoring forgives is 0.25 s each side).
TURN_GAP_S = 0.5
CHANNEL = "1"


@dataclass(frozen=True)
class Turn:
    recording: str
    speaker: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class StmSegment:
    recording: str
    channel: str
    speaker: str
    start_s: float
    end_s: float
    text: str
    label: str = ""


@dataclass(frozen=True)
class CtmWord:
    recording: str
    channel: str
    start_s: float
    duration_s: float
    word: str
    confidence: float


def speaker_names(items: Sequence[SnapshotExample]) -> dict[str, str]:
    """A recording's diarization label -> speaker id, for the labels its examples carry."""
    return {i.example.speaker: i.speaker_key for i in items if i.example.speaker}


def speaker_turns(recording: str, items: Sequence[SnapshotExample]) -> list[Turn]:
    names = speaker_names(items)
    spans: list[tuple[float, float, str]] = []
    for item in items:
        ex = item.example
        if ex.words:
            for w in ex.words:
                label = w.speaker or ex.speaker
                spans.append((w.start_s, w.end_s, names.get(label, safe_id(label or "unknown"))))
        else:
            spans.append((ex.start_s, ex.end_s, item.speaker_key))
    turns: list[Turn] = []
    for start, end, speaker in sorted(spans):
        last = turns[-1] if turns else None
        if last is not None and last.speaker == speaker and start - last.end_s <= TURN_GAP_S:
            turns[-1] = Turn(recording, speaker, last.start_s, max(end, last.end_s))
        else:
            turns.append(Turn(recording, speaker, start, end))
    return sorted(turns, key=lambda t: (t.start_s, t.speaker))


def write_rttm(examples: Sequence[SnapshotExample], audio: SpanAudio, out: Path) -> ExportedFiles:
    out.mkdir(parents=True, exist_ok=True)
    for split, items in by_split(examples).items():
        lines = [
            f"SPEAKER {t.recording} {CHANNEL} {t.start_s:.3f} {t.end_s - t.start_s:.3f} <NA> <NA> "
            f"{t.speaker} <NA> <NA>"
            for rec, rec_items in by_recording(items).items()
            for t in speaker_turns(rec, rec_items)
        ]
        (out / f"{split}.rttm").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return ExportedFiles("rttm", out, count_files(out), len(examples))


def write_stm(examples: Sequence[SnapshotExample], audio: SpanAudio, out: Path) -> ExportedFiles:
    """sclite wants STM sorted by file, channel and start time."""
    out.mkdir(parents=True, exist_ok=True)
    for split, items in by_split(examples).items():
        lines = [
            f"{rec} {CHANNEL} {i.speaker_key} {i.example.start_s:.3f} {i.example.end_s:.3f} "
            f"<o,{i.example.language or 'unk'}> {one_line(i.example.target_text)}".rstrip()
            for rec, rec_items in by_recording(items).items()
            for i in rec_items
        ]
        (out / f"{split}.stm").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return ExportedFiles("stm", out, count_files(out), len(examples))


def write_ctm(examples: Sequence[SnapshotExample], audio: SpanAudio, out: Path) -> ExportedFiles:
    out.mkdir(parents=True, exist_ok=True)
    for split, items in by_split(examples).items():
        lines = []
        for rec, rec_items in by_recording(items).items():
            words = sorted(
                (w.start_s, w.end_s, w.text.strip(), w.probability)
                for i in rec_items
                for w in i.example.words
                if w.text.strip()
            )
            for start, end, text, probability in words:
                word = "_".join(text.split())  # a CTM word is one field
                lines.append(f"{rec} {CHANNEL} {start:.3f} {end - start:.3f} {word} {probability:.3f}")
        (out / f"{split}.ctm").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return ExportedFiles("ctm", out, count_files(out), len(examples))


def _content_lines(path: Path) -> list[str]:
    """sclite skips blank lines and ';;' comments."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith(";;")]


def read_stm(path: Path) -> list[StmSegment]:
    segments = []
    for line in _content_lines(path):
        fields = line.split(None, 5)
        rec, channel, speaker, start, end = fields[:5]
        rest = fields[5] if len(fields) > 5 else ""
        label = ""
        if rest.startswith("<"):
            label, _, rest = rest.partition(">")
            label = label[1:]
        segments.append(StmSegment(rec, channel, speaker, float(start), float(end), rest.strip(), label))
    return segments


def read_ctm(path: Path) -> list[CtmWord]:
    words = []
    for line in _content_lines(path):
        fields = line.split()
        rec, channel, start, duration, word = fields[:5]
        confidence = float(fields[5]) if len(fields) > 5 else 1.0
        words.append(CtmWord(rec, channel, float(start), float(duration), word, confidence))
    return words
