"""Scores for drafts against references: WER, speaker-attributed cpWER and DER.

Pure functions over text and pyannote annotations; the evaluation command reads references and
drafts and writes what these return. Every WER here goes through ``normalise_text``, so numbers
from the command, the tests and the end-to-end checks mean the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate
from scipy.optimize import linear_sum_assignment

from services.asr.speakers import Turn

# Moved to shared.text (the quality gate scores with them too); re-exported for existing callers.
from shared.text import WerResult, error_rate, normalise_text, wer, word_errors

__all__ = [
    "CpWerResult",
    "DerResult",
    "RefSegment",
    "WerResult",
    "annotation_from_turns",
    "cp_wer",
    "der",
    "normalise_text",
    "read_rttm",
    "read_stm",
    "texts_by_speaker",
    "wer",
]


@dataclass(frozen=True)
class RefSegment:
    speaker: str
    start_s: float
    end_s: float
    text: str


class _Spoken(Protocol):
    @property
    def speaker(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def text(self) -> str: ...


def read_stm(path: Path) -> list[RefSegment]:
    """NIST STM: ``<file> <channel> <speaker> <start> <end> [<label>] <text>`` per line.

    ``;;`` lines are comments. The optional ``<o,f0,male>``-style label is dropped; so is the file
    name (one STM file per recording here).
    """
    segments = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith(";;"):
            continue
        fields = line.split(None, 5)
        if len(fields) < 5:
            raise ValueError(f"{path}:{number}: an STM line needs file, channel, speaker, start, end")
        text = fields[5] if len(fields) == 6 else ""
        if text.startswith("<") and ">" in text:
            text = text.split(">", 1)[1]
        segments.append(RefSegment(fields[2], float(fields[3]), float(fields[4]), text.strip()))
    return segments


def read_rttm(path: Path, uri: str | None = None) -> Annotation:
    """The SPEAKER turns of one recording in an RTTM file as a pyannote ``Annotation``.

    ``uri`` picks the recording when the file holds several; without it there must be one.
    """
    turns: dict[str, list[Turn]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0] == "SPEAKER":
            start_s, duration_s = float(fields[3]), float(fields[4])
            turns.setdefault(fields[1], []).append(Turn(start_s, start_s + duration_s, fields[7]))
    if uri is None:
        if len(turns) > 1:
            raise ValueError(f"{path} holds recordings {sorted(turns)}: name one with uri=")
        uri = next(iter(turns), Path(path).stem)
    return annotation_from_turns(turns.get(uri, []), uri)


def annotation_from_turns(turns: Iterable[Turn], uri: str = "") -> Annotation:
    """Turns as a pyannote ``Annotation``; one track per turn, so overlapping turns all count."""
    annotation = Annotation(uri=uri)
    for track, turn in enumerate(turns):
        annotation[Segment(turn.start_s, turn.end_s), track] = turn.speaker
    return annotation


@dataclass(frozen=True)
class CpWerResult:
    cpwer: float
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int
    mapping: dict[str, str]  # reference speaker -> hypothesis speaker, matched pairs only

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions


def cp_wer(
    ref_by_speaker: Mapping[str, str], hyp_by_speaker: Mapping[str, str], language: str = ""
) -> CpWerResult:
    """Concatenated minimum-permutation WER (cpWER, CHiME-6): each speaker's words concatenated,
    speakers paired so that the total errors are least.

    Errors add up over pairs, so the best permutation is a Hungarian assignment over the pairwise
    error counts. Extra speakers on either side pair with an empty text: a reference speaker
    nobody matched is all deletions, a hypothesis speaker that matched nobody all insertions.
    So words given to the wrong speaker count twice, a deletion and an insertion.
    """
    # Padding speakers are None: "" is a real label (words of no known speaker).
    refs: list[tuple[str | None, str]] = [(s, normalise_text(t, language)) for s, t in ref_by_speaker.items()]
    hyps: list[tuple[str | None, str]] = [(s, normalise_text(t, language)) for s, t in hyp_by_speaker.items()]
    size = max(len(refs), len(hyps))
    refs += [(None, "")] * (size - len(refs))
    hyps += [(None, "")] * (size - len(hyps))
    pairs = [[word_errors(r, h) for _, h in hyps] for _, r in refs]
    costs = np.array([[p.errors for p in row] for row in pairs], dtype=np.int64).reshape(size, size)
    rows, columns = linear_sum_assignment(costs)
    chosen = [pairs[r][c] for r, c in zip(rows, columns, strict=True)]
    s = sum(p.substitutions for p in chosen)
    d = sum(p.deletions for p in chosen)
    i = sum(p.insertions for p in chosen)
    words = sum(p.reference_words for p in chosen)
    matched = ((refs[r][0], hyps[c][0]) for r, c in zip(rows, columns, strict=True))
    mapping = {ref: hyp for ref, hyp in matched if ref is not None and hyp is not None}
    return CpWerResult(error_rate(s + d + i, words), s, d, i, words, mapping)


def texts_by_speaker(items: Iterable[_Spoken]) -> dict[str, str]:
    """Each speaker's text in time order (reference segments or speaker-attributed words); words
    of no known speaker ("") are kept under "", where cpWER counts them as a speaker of their own."""
    spoken: dict[str, list[str]] = {}
    for item in sorted(items, key=lambda item: item.start_s):
        spoken.setdefault(item.speaker, []).append(item.text.strip())
    return {speaker: " ".join(t for t in texts if t) for speaker, texts in spoken.items()}


@dataclass(frozen=True)
class DerResult:
    der: float
    missed_s: float
    false_alarm_s: float
    confusion_s: float
    total_s: float  # reference speech evaluated (after collars), the denominator


def der(
    reference: Annotation,
    hypothesis: Annotation,
    collar_s: float = 0.25,
    skip_overlap: bool = False,
    uem: Timeline | None = None,
) -> DerResult:
    """Diarization error rate with pyannote.metrics (labels mapped one-to-one, optimally).

    ``collar_s`` is forgiven on EACH side of every reference boundary, as in NIST md-eval and
    as "DER with a 0.25 s collar" is meant in the literature; pyannote's ``collar`` is the
    collar's whole width, so it gets twice this. ``uem`` defaults to the union of both extents,
    what pyannote would approximate (with a warning) anyway.
    """
    if uem is None:
        extent = reference.get_timeline().extent() | hypothesis.get_timeline().extent()
        uem = Timeline(segments=[extent] if extent else [], uri=reference.uri)
    metric = DiarizationErrorRate(collar=2 * collar_s, skip_overlap=skip_overlap)
    detail = metric(reference, hypothesis, uem=uem, detailed=True)
    missed, false_alarm = float(detail["missed detection"]), float(detail["false alarm"])
    confusion, total = float(detail["confusion"]), float(detail["total"])
    return DerResult(float(detail["diarization error rate"]), missed, false_alarm, confusion, total)
