"""Dataset exports of a snapshot, one module per family of formats, each registered by name in
``FORMATS`` so a request or a CLI can ask for formats as data.

Every format is written to ``<out_dir>/<format>/``. The audio folder goes first, so NeMo and
Label Studio point at its span WAVs instead of writing the same audio again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from services.feedback.exports.common import AUDIOFOLDER_DIR, ExportedFiles, SpanAudio
from services.feedback.exports.docbin import write_docbin
from services.feedback.exports.hf_audiofolder import write_audiofolder
from services.feedback.exports.kaldi import write_kaldi
from services.feedback.exports.label_studio import write_label_studio
from services.feedback.exports.nemo import write_nemo
from services.feedback.exports.subtitles import write_srt, write_vtt
from services.feedback.exports.turns import write_ctm, write_rttm, write_stm
from services.feedback.snapshot import AudioSource, SnapshotExample

Exporter = Callable[[Sequence[SnapshotExample], SpanAudio, Path], ExportedFiles]

# In writing order: the audio folder first (see the module's docstring).
FORMATS: dict[str, Exporter] = {
    AUDIOFOLDER_DIR: write_audiofolder,
    "nemo": write_nemo,
    "kaldi": write_kaldi,
    "rttm": write_rttm,
    "stm": write_stm,
    "ctm": write_ctm,
    "srt": write_srt,
    "vtt": write_vtt,
    "docbin": write_docbin,
    "label_studio": write_label_studio,
}

# Formats that carry the audio itself: an example without audio (its blob was never stored, e.g.
# text-only corrections) is left out of them and counted in their notes as ``without_audio``.
AUDIO_FORMATS = frozenset({AUDIOFOLDER_DIR, "nemo", "kaldi", "label_studio"})

__all__ = ["FORMATS", "ExportedFiles", "Exporter", "SpanAudio", "UnknownFormat", "export_snapshot"]


class UnknownFormat(ValueError):
    pass


def export_snapshot(
    examples: Sequence[SnapshotExample],
    audio: AudioSource,
    out_dir: Path,
    formats: Sequence[str] = (),
) -> dict[str, ExportedFiles]:
    """Write ``formats`` (all of them when empty) under ``out_dir``; format -> what it wrote.
    Each blob is fetched and decoded once, whatever the number of formats."""
    unknown = [name for name in formats if name not in FORMATS]
    if unknown:
        raise UnknownFormat(
            f"unknown export format(s) {', '.join(map(repr, unknown))}; known: {', '.join(FORMATS)}"
        )
    wanted = set(formats) or set(FORMATS)
    spans = SpanAudio(audio)
    with_audio = [item for item in examples if item.example.audio.uri]
    written = {}
    for name, exporter in FORMATS.items():
        if name not in wanted:
            continue
        if name in AUDIO_FORMATS:
            written[name] = exporter(with_audio, spans, out_dir / name)
            if len(with_audio) < len(examples):
                written[name].notes["without_audio"] = len(examples) - len(with_audio)
        else:
            written[name] = exporter(examples, spans, out_dir / name)
    return written
