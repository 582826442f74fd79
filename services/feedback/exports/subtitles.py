"""Subtitles per recording (``<split>/<recording>.srt`` and ``.vtt``), one cue per example in
recording time, so a player shows the validated transcript over the original audio. The speaker
is a ``Name: `` prefix in SRT, which has no markup for it, and a WebVTT voice span (``<v Name>``).

Written by hand (two small text formats, no dependency at run time); the readers use the
``srt`` and ``webvtt-py`` parsers, imported when called.
"""

from __future__ import annotations

import html
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
from services.feedback.snapshot import SnapshotExample


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    speaker: str
    text: str


def _timestamp(seconds: float, separator: str) -> str:
    millis = round(max(seconds, 0.0) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def cue_speaker(item: SnapshotExample) -> str:
    return item.example.speaker_id or item.example.speaker


def srt_text(items: Sequence[SnapshotExample]) -> str:
    blocks = []
    for number, item in enumerate(items, start=1):
        ex = item.example
        timing = f"{_timestamp(ex.start_s, ',')} --> {_timestamp(ex.end_s, ',')}"
        speaker = cue_speaker(item)
        text = one_line(ex.target_text) or "..."  # an empty cue would end the block
        blocks.append(f"{number}\n{timing}\n{f'{speaker}: ' if speaker else ''}{text}\n")
    return "\n".join(blocks)


def vtt_text(items: Sequence[SnapshotExample]) -> str:
    blocks = ["WEBVTT\n"]
    for item in items:
        ex = item.example
        timing = f"{_timestamp(ex.start_s, '.')} --> {_timestamp(ex.end_s, '.')}"
        # Cue text is markup: &, < and > are escaped, and "-->" cannot appear.
        text = html.escape(one_line(ex.target_text), quote=False).replace("--&gt;", "-&gt;") or "..."
        speaker = html.escape(cue_speaker(item), quote=False)
        blocks.append(f"{item.utterance_id}\n{timing}\n{f'<v {speaker}>' if speaker else ''}{text}\n")
    return "\n".join(blocks)


def _write(examples: Sequence[SnapshotExample], out: Path, suffix: str, name: str) -> ExportedFiles:
    render = srt_text if suffix == ".srt" else vtt_text
    for split, items in by_split(examples).items():
        for rec, rec_items in by_recording(items).items():
            path = out / split / f"{rec}{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(rec_items), encoding="utf-8")
    return ExportedFiles(name, out, count_files(out), len(examples))


def write_srt(examples: Sequence[SnapshotExample], audio: SpanAudio, out: Path) -> ExportedFiles:
    return _write(examples, out, ".srt", "srt")


def write_vtt(examples: Sequence[SnapshotExample], audio: SpanAudio, out: Path) -> ExportedFiles:
    return _write(examples, out, ".vtt", "vtt")


def read_srt(path: Path) -> list[Cue]:
    import srt  # the `ml` extra

    cues = []
    for sub in srt.parse(path.read_text(encoding="utf-8")):
        speaker, sep, text = sub.content.partition(": ")
        if not sep:
            speaker, text = "", sub.content
        cues.append(Cue(sub.start.total_seconds(), sub.end.total_seconds(), speaker, text))
    return cues


def read_vtt(path: Path) -> list[Cue]:
    import webvtt  # the `ml` extra (webvtt-py)

    # webvtt-py keeps the markup's character references; the text we wrote is their unescaping.
    return [
        Cue(
            c.start_time.in_milliseconds() / 1000,
            c.end_time.in_milliseconds() / 1000,
            html.unescape(c.voice or ""),
            html.unescape(c.text),
        )
        for c in webvtt.read(str(path)).captions
    ]
