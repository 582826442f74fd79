"""A backlog of one recording's segments decoded as one audio, the way faster-whisper takes a file.

Why: every Whisper decode works in 30 s windows, and a segment whose last Whisper segment is
still open at its end costs one more (padded) window. On 120 s of pyannote's sample cut in 4 by
ingest, decoding the cuts one by one took 18.4-19.0 s of faster-whisper time against 16.8 s for
the whole audio. When several segments of a recording wait in one poll, the ASR service joins
them (``coalesce_runs``, ``join_audio``), decodes once and gives each segment its words back
(``split_transcription``). A single segment (the live case) is never touched by this module.

Plain functions, no model, no Kafka: the handler and ``drafting`` do the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

from services.asr.transcriber import SAMPLE_RATE_HZ, TranscribedSegment, TranscribedWord, Transcription

# Ingest cuts a segment at speech end + its pad and opens the next at speech start - pad, so
# consecutive segments are separated by the pause between them (7.3 s on the sample's seams).
# That audio is not kept; it was judged non-speech, so it is filled with zeros. faster-whisper's
# VAD drops pauses of 2 s and more (min_silence_duration_ms=2000), so a fill this long is cut out
# as the real pause is in a whole-file decode, and a longer one would only cost VAD time.
GAP_FILL_MAX_S = 2.5
# Segments overlapping by more than this are not consecutive audio (never produced by ingest).
OVERLAP_TOLERANCE_S = 0.05


@dataclass(frozen=True)
class Piece:
    """What grouping needs of a segment."""

    recording_id: str
    index: int
    start_s: float
    end_s: float
    language_hint: str = ""
    has_audio: bool = True  # False: an end marker, nothing to decode


def gap_fill_s(previous: Piece, following: Piece) -> float:
    """Seconds of zeros put between two consecutive segments' audio."""
    return min(max(following.start_s - previous.end_s, 0.0), GAP_FILL_MAX_S)


def _continues(run: list[Piece], piece: Piece, max_s: float) -> bool:
    last = run[-1]
    if not (last.has_audio and piece.has_audio):
        return False
    if piece.index != last.index + 1 or piece.language_hint != last.language_hint:
        return False  # a missing segment, or a different hint (the first hint fixes the language)
    if piece.start_s < last.end_s - OVERLAP_TOLERANCE_S:
        return False
    joined = [*run, piece]
    length_s = sum(p.end_s - p.start_s for p in joined) + sum(gap_fill_s(a, b) for a, b in pairwise(joined))
    return length_s <= max_s


def coalesce_runs(pieces: Sequence[Piece], max_s: float) -> list[list[int]]:
    """Positions of ``pieces`` in runs to decode together, runs in the order of their first piece.

    A run holds one recording's consecutive segments (indexes one apart, each starting where the
    previous ended or later, same language hint) in their order in the batch; other recordings'
    segments between them do not break it. The joined audio (``join_audio``) is at most
    ``max_s``; ``max_s`` <= 0 puts every piece alone. An end marker is always alone.
    """
    runs: list[list[int]] = []
    open_run: dict[str, list[int]] = {}  # the recording's latest run
    for position, piece in enumerate(pieces):
        run = open_run.get(piece.recording_id)
        if max_s > 0 and run is not None and _continues([pieces[i] for i in run], piece, max_s):
            run.append(position)
            continue
        open_run[piece.recording_id] = [position]
        runs.append(open_run[piece.recording_id])
    return runs


@dataclass(frozen=True, eq=False)  # eq=False: comparing ndarrays field by field is ambiguous
class JoinedAudio:
    samples: NDArray[np.float32]
    offsets_s: tuple[float, ...]  # where each segment's audio begins in ``samples``
    durations_s: tuple[float, ...]


def join_audio(pieces: Sequence[Piece], parts: Sequence[NDArray[np.float32]]) -> JoinedAudio:
    """The segments' audio end to end, each pause between them as zeros (``gap_fill_s``)."""
    chunks: list[NDArray[np.float32]] = []
    offsets: list[float] = []
    at = 0
    for i, (piece, samples) in enumerate(zip(pieces, parts, strict=True)):
        if i:
            gap = np.zeros(round(gap_fill_s(pieces[i - 1], piece) * SAMPLE_RATE_HZ), np.float32)
            chunks.append(gap)
            at += len(gap)
        offsets.append(at / SAMPLE_RATE_HZ)
        chunks.append(samples.astype(np.float32, copy=False))
        at += len(samples)
    return JoinedAudio(np.concatenate(chunks), tuple(offsets), tuple(len(p) / SAMPLE_RATE_HZ for p in parts))


def owner(time_s: float, offsets_s: Sequence[float], durations_s: Sequence[float]) -> int:
    """The segment whose audio holds ``time_s``; in a filled pause, the nearest one."""
    distances = [
        max(start - time_s, time_s - (start + duration), 0.0)
        for start, duration in zip(offsets_s, durations_s, strict=True)
    ]
    return int(np.argmin(distances))  # the earlier one on a tie


def split_transcription(
    transcription: Transcription, offsets_s: Sequence[float], durations_s: Sequence[float]
) -> list[Transcription]:
    """One Transcription per joined segment, in its own time (0 = its first sample), as if it had
    been decoded alone.

    A word goes to the segment holding its midpoint (clamped to that segment's audio). A Whisper
    segment goes, as a piece, to every segment that got some of its words (one without words:
    where its midpoint is), clipped to that segment's time and keeping its own scores; the draft
    then weights avg_logprob by each piece's time inside the segment and takes the worst
    no-speech probability, compression ratio and temperature, as for a segment decoded alone.
    So a Whisper segment straddling a cut counts on both sides, by overlap; its text is kept
    whole when all its words fall on one side, else rebuilt from the words of each side.
    """
    pieces: list[list[TranscribedSegment]] = [[] for _ in offsets_s]
    for segment in transcription.segments:
        by_owner: dict[int, list[TranscribedWord]] = {}
        for word in segment.words:
            i = owner((word.start_s + word.end_s) / 2, offsets_s, durations_s)
            by_owner.setdefault(i, []).append(word)
        if not segment.words:
            by_owner[owner((segment.start_s + segment.end_s) / 2, offsets_s, durations_s)] = []
        for i, words in by_owner.items():
            start, duration = offsets_s[i], durations_s[i]

            def local(t: float, start: float = start, duration: float = duration) -> float:
                return min(max(t - start, 0.0), duration)

            moved = tuple(replace(w, start_s=local(w.start_s), end_s=local(w.end_s)) for w in words)
            whole = len(by_owner) == 1
            pieces[i].append(
                replace(
                    segment,
                    index=len(pieces[i]),
                    start_s=min([local(segment.start_s), *(w.start_s for w in moved)]),
                    end_s=max([local(segment.end_s), *(w.end_s for w in moved)]),
                    text=segment.text if whole else " ".join(w.text for w in moved),
                    words=moved,
                )
            )
    return [
        Transcription(transcription.language, transcription.language_probability, duration, parts)
        for duration, parts in zip(durations_s, pieces, strict=True)
    ]
