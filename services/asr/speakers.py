"""Who said each word, and which of the recording's speakers a segment's local speaker is.

Two pure pieces, no Kafka, no gRPC, no models:

* ``assign_speakers`` puts diarization turns and Whisper's timed words together: each word goes to
  the speaker whose turns overlap it most, and is marked when a second voice covers it too.
* ``SpeakerRegistry`` links the speakers of one segment to the recording's speakers. The service
  diarizes each segment (<= 30 s) on its own, so pyannote's local labels (SPEAKER_00, ...) mean
  nothing across segments; the CAM++ centroid of each local speaker does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from services.asr.transcriber import TranscribedWord

if TYPE_CHECKING:
    from pyannote.core import Annotation

UNKNOWN_SPEAKER = ""

# A word with no turn under it still belongs to a turn that ends (or starts) this close: Whisper's
# word times and pyannote's turn boundaries each drift by a tenth of a second or so, and the
# segmentation model trims the short pauses that Whisper counts as part of a word.
MAX_GAP_S = 0.5

# A second speaker must cover at least this much of a word to mark it as overlapped speech, and
# at least OVERLAP_MIN_SHARE of it. The absolute floor is above the boundary jitter of the two
# systems (segmentation frames are ~17 ms, Whisper's word ends run ~0.1 s late), so a word at a
# turn change is not flagged because the next turn starts a moment early; the share keeps a long
# word from being flagged for a clipped edge. A word shorter than the floor must be covered whole.
OVERLAP_MIN_S = 0.1
OVERLAP_MIN_SHARE = 0.2

# Whisper can emit zero-length words; they are measured over this window around their time.
POINT_WORD_S = 0.02

# Cosine similarity of CAM++ centroids at which a local speaker is the same as a known one. The
# project measured 0.65 on average for the same speaker and 0.32 across speakers on pyannote's
# sample (tests/unit/asr/test_campplus.py); 0.5 sits between the two.
LINK_THRESHOLD = 0.5


@dataclass(frozen=True)
class Turn:
    start_s: float
    end_s: float
    speaker: str


@dataclass(frozen=True)
class SpeakerWord:
    text: str
    start_s: float
    end_s: float
    probability: float
    speaker: str  # "" when no turn is under or near the word
    overlap: bool  # another speaker talks during the word


def turns_from_annotation(annotation: Annotation) -> tuple[Turn, ...]:
    """A pyannote ``Annotation`` as turns in time order (labels as strings)."""
    turns = (
        Turn(float(segment.start), float(segment.end), str(label))
        for segment, _track, label in annotation.itertracks(yield_label=True)
    )
    return tuple(sorted(turns, key=lambda t: (t.start_s, t.end_s, t.speaker)))


def _coverage_s(start_s: float, end_s: float, turns: Sequence[Turn]) -> dict[str, float]:
    """Seconds of [start_s, end_s] each speaker's turns cover, speakers in order of first turn."""
    covered: dict[str, float] = {}
    for turn in turns:
        seconds = min(end_s, turn.end_s) - max(start_s, turn.start_s)
        if seconds > 0:
            covered[turn.speaker] = covered.get(turn.speaker, 0.0) + seconds
    return covered


def _nearest_speaker(start_s: float, end_s: float, turns: Sequence[Turn], max_gap_s: float) -> str:
    best_gap, best = float("inf"), UNKNOWN_SPEAKER
    for turn in turns:
        gap = max(turn.start_s - end_s, start_s - turn.end_s, 0.0)
        if gap < best_gap:
            best_gap, best = gap, turn.speaker
    return best if best_gap <= max_gap_s else UNKNOWN_SPEAKER


def assign_speakers(
    words: Iterable[TranscribedWord], turns: Iterable[Turn], max_gap_s: float = MAX_GAP_S
) -> list[SpeakerWord]:
    """Each word with the speaker whose turns overlap it most (ties: the one who spoke first).

    A word under no turn gets the nearest turn's speaker within ``max_gap_s``, else "" (unknown).
    ``overlap`` is set when another speaker covers the word by OVERLAP_MIN_S and OVERLAP_MIN_SHARE.
    Turns labelled "" (a speaker the registry could not name) count like any other speaker.
    """
    ordered = sorted(turns, key=lambda t: (t.start_s, t.end_s, t.speaker))
    assigned = []
    for word in words:
        start_s, end_s = word.start_s, word.end_s
        if end_s - start_s <= 0:
            middle = (start_s + end_s) / 2
            start_s, end_s = middle - POINT_WORD_S / 2, middle + POINT_WORD_S / 2
        covered = _coverage_s(start_s, end_s, ordered)
        overlap = False
        if covered:
            speaker = max(covered, key=lambda s: covered[s])
            duration_s = end_s - start_s
            needed_s = min(duration_s, max(OVERLAP_MIN_S, OVERLAP_MIN_SHARE * duration_s))
            # A small tolerance: a turn that covers the word "whole" may miss it by float error.
            overlap = any(s != speaker and c >= needed_s - 1e-9 for s, c in covered.items())
        else:
            speaker = _nearest_speaker(start_s, end_s, ordered, max_gap_s)
        assigned.append(SpeakerWord(word.text, word.start_s, word.end_s, word.probability, speaker, overlap))
    return assigned


def dominant_speaker(words: Iterable[SpeakerWord]) -> str:
    """The speaker with the most word time (ties: the first to speak); "" when nobody is known."""
    spoken_s: dict[str, float] = {}
    for word in words:
        if word.speaker != UNKNOWN_SPEAKER:
            spoken_s[word.speaker] = spoken_s.get(word.speaker, 0.0) + max(word.end_s - word.start_s, 0.0)
    return max(spoken_s, key=lambda s: spoken_s[s], default=UNKNOWN_SPEAKER)


@dataclass(frozen=True)
class GlobalSpeaker:
    label: str  # SPEAKER_00, SPEAKER_01, ... in order of appearance in the recording
    centroid: NDArray[np.float64]  # unit length
    speech_s: float  # the seconds behind the centroid, its weight in the running mean


def _unit(vector: NDArray[Any] | None) -> NDArray[np.float64] | None:
    """The vector at unit length, or None when it carries no direction (missing, NaN, zero)."""
    if vector is None:
        return None
    v = np.asarray(vector, dtype=np.float64).reshape(-1)
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm == 0.0:
        return None
    return v / norm


class SpeakerRegistry:
    """The speakers of one recording, grown segment by segment; stored between segments as a dict.

    ``link`` maps a segment's local labels to global ones. Each local speaker either joins a known
    speaker (scored by cosine similarity) or opens a new one (scored by ``link_threshold``); the
    assignment that maximises the total score is one-to-one (Hungarian), so two voices of one
    segment never merge, and no local speaker joins a known one below the threshold.

    A local speaker without a usable embedding (pyannote gives NaN when it has too little clean
    speech for CAM++) maps to "" (unknown): a fresh label would have no centroid, so it could
    never be linked again and every short blip would add a phantom speaker to the recording.
    """

    def __init__(
        self, link_threshold: float = LINK_THRESHOLD, speakers: Iterable[GlobalSpeaker] = ()
    ) -> None:
        self.link_threshold = link_threshold
        self._speakers = list(speakers)

    @property
    def speakers(self) -> tuple[GlobalSpeaker, ...]:
        return tuple(self._speakers)

    def link(
        self, embeddings: Mapping[str, NDArray[Any]], speech_s: Mapping[str, float] | None = None
    ) -> dict[str, str]:
        """Local label -> global label for every local label in ``embeddings`` or ``speech_s``.

        Centroids of linked and new speakers are updated: the running mean of unit vectors,
        weighted by the seconds each local speaker spoke in the segment, then L2-normalised.
        """
        speech_s = speech_s or {}
        labels = sorted(set(embeddings) | set(speech_s))
        vectors = {label: _unit(embeddings.get(label)) for label in labels}
        mapping = {label: UNKNOWN_SPEAKER for label in labels if vectors[label] is None}
        usable = [label for label in labels if vectors[label] is not None]
        if not usable:
            return mapping
        local = np.stack([vectors[label] for label in usable])  # type: ignore[misc]
        known = len(self._speakers)
        if known and self._speakers[0].centroid.shape != local.shape[1:]:
            raise ValueError(
                f"embedding size {local.shape[1]} does not match the registry's "
                f"{self._speakers[0].centroid.shape[0]}: were the speakers stored by another model?"
            )
        # Columns: the known speakers, then one "new speaker" column per local speaker.
        score = np.full((len(usable), known + len(usable)), -1e6)
        if known:
            score[:, :known] = local @ np.stack([s.centroid for s in self._speakers]).T
        # A hair under the threshold, so a similarity exactly at it links rather than ties.
        score[:, known:][np.diag_indices(len(usable))] = self.link_threshold - 1e-9
        rows, columns = linear_sum_assignment(score, maximize=True)
        for row, column in zip(rows, columns, strict=True):
            label, weight_s = usable[row], max(float(speech_s.get(usable[row], 0.0)), 1e-3)
            if column < known:
                mapping[label] = self._update(int(column), local[row], weight_s)
            else:
                mapping[label] = self._add(local[row], weight_s)
        return mapping

    def _update(self, index: int, vector: NDArray[np.float64], weight_s: float) -> str:
        speaker = self._speakers[index]
        mean = _unit(speaker.centroid * speaker.speech_s + vector * weight_s)
        # Opposite vectors of equal weight cancel out; keep the older centroid then.
        centroid = speaker.centroid if mean is None else mean
        self._speakers[index] = replace(speaker, centroid=centroid, speech_s=speaker.speech_s + weight_s)
        return speaker.label

    def _add(self, vector: NDArray[np.float64], weight_s: float) -> str:
        label = f"SPEAKER_{len(self._speakers):02d}"
        self._speakers.append(GlobalSpeaker(label, vector, weight_s))
        return label

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible: the recording's row keeps it between segments."""
        return {
            "version": 1,
            "speakers": [
                {"label": s.label, "speech_s": s.speech_s, "centroid": s.centroid.tolist()}
                for s in self._speakers
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], link_threshold: float = LINK_THRESHOLD) -> SpeakerRegistry:
        """From ``to_dict``'s output; an empty dict (a recording not yet diarized) is no speakers.

        The threshold is not stored: it is a setting of the service, recorded in each draft's
        provenance.
        """
        if data and data.get("version") != 1:
            raise ValueError(f"unknown speaker registry version {data.get('version')!r}")
        speakers = [
            GlobalSpeaker(str(s["label"]), np.asarray(s["centroid"], dtype=np.float64), float(s["speech_s"]))
            for s in data.get("speakers", [])
        ]
        return cls(link_threshold, speakers)
