"""Cut a live audio stream into segments on pauses, one chunk at a time, with state in bytes.

Speech is found by the Silero VAD that faster-whisper bundles (ONNX, CPU), with the hysteresis of
``faster_whisper.vad.get_speech_timestamps``: a window is speech from ``threshold`` up, and stays
speech down to ``threshold - 0.15``. Silero is a recurrent model: its LSTM state (h, c) runs on
from window to window (resetting it moves later probabilities by up to 0.1 for tens of seconds),
so it is kept in the state too: a stream fed in any chunks, through bytes or not, gets the same
probabilities as the whole stream in one call (bit for bit, as measured).

Only the pending audio (not yet cut) is held, so the state is bounded by ``max_segment_s``: about
1 MB at the default 30 s, 8 kB while nothing is pending.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from shared.audio import TARGET_RATE_HZ

WINDOW = 512  # Silero's window at 16 kHz (32 ms): the only size its 16 kHz model takes
CONTEXT = 64  # samples before each window the model also sees (Silero v5+)
_LSTM_SHAPE = (2, 1, 1, 128)  # h and c, as the ONNX graph takes them
_BATCH_WINDOWS = 10_000  # windows per ONNX call, as faster-whisper batches them
_FEED_SLICE = 64 * TARGET_RATE_HZ  # a whole file fed at once is taken in slices, to keep memory bounded
_MAGIC, _VERSION = b"VXSG", 1
# The integer part of the state, in the order it is stored (after it: the two array lengths).
_COUNTERS = (
    "_total",
    "_windows",
    "_audio_start",
    "_voiced_start",
    "_open",
    "_last_voiced",
    "_cut_end",
    "_next_index",
)
_HEADER = struct.Struct(f"<4sB??{len(_COUNTERS) + 2}q")


@dataclass(frozen=True)
class SegmenterConfig:
    threshold: float = 0.5
    min_silence_s: float = 0.5  # a pause at least this long may end a segment
    # Don't close a segment at a pause before it (counted from its start to now) is this long:
    # every Whisper decode pads to a 30 s window, so short segments waste decodes.
    min_segment_s: float = 8.0
    max_segment_s: float = 30.0  # hard limit: cut at the longest pause inside, or at the limit
    speech_pad_s: float = 0.2  # audio kept around speech
    min_speech_s: float = 0.25  # a segment with less speech than this is dropped as noise

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise ValueError(f"SegmenterConfig.threshold must be in (0, 1), got {self.threshold}")
        for name in ("min_silence_s", "max_segment_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SegmenterConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in ("min_segment_s", "speech_pad_s", "min_speech_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"SegmenterConfig.{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True, eq=False)  # eq=False: comparing ndarrays field by field is ambiguous
class Cut:
    index: int  # 0, 1, 2... per stream, consecutive over published cuts
    start_sample: int  # absolute position in the stream at 16 kHz
    end_sample: int
    samples: NDArray[np.float32]  # the stream's audio in [start_sample, end_sample)
    speech_s: float  # voiced audio in it
    # Where the voice activity is, as (start_sample, end_sample) runs of speech windows clipped
    # to the cut: the quality gate checks that transcribed words lie on speech.
    voiced: tuple[tuple[int, int], ...] = ()

    @property
    def start_s(self) -> float:
        return self.start_sample / TARGET_RATE_HZ

    @property
    def end_s(self) -> float:
        return self.end_sample / TARGET_RATE_HZ


@cache
def _vad_session() -> Any:
    """The ONNX session, loaded once per process (faster-whisper is imported only when needed)."""
    from faster_whisper.vad import get_vad_model

    return get_vad_model().session


def _to_pcm16(samples: NDArray[Any]) -> NDArray[np.int16]:
    # x 32768 so that audio decoded from PCM16 (k / 32768) comes back exactly.
    return np.clip(np.round(samples.astype(np.float32) * 32768.0), -32768, 32767).astype(np.int16)


class Segmenter:
    """Feed chunks in stream order; each call returns the cuts the new audio completed.

    A segment opens at the first speech and closes at a pause of ``min_silence_s`` once it has
    lasted ``min_segment_s``, so a live stream yields segments while it runs. One that reaches
    ``max_segment_s`` is cut at its longest pause (the latest of equals), or at the limit when it
    has none. Cuts span speech +- ``speech_pad_s``; the silence between them is not published.
    """

    def __init__(self, config: SegmenterConfig, state: bytes | None = None) -> None:
        self.config = config
        rate = TARGET_RATE_HZ
        self._pad = round(config.speech_pad_s * rate)
        self._min_silence_windows = math.ceil(config.min_silence_s * rate / WINDOW)
        self._min_segment = round(config.min_segment_s * rate)
        self._max_segment = max(round(config.max_segment_s * rate), 1)
        self._neg_threshold = max(config.threshold - 0.15, 0.01)  # as get_speech_timestamps
        self._total = 0  # samples seen
        self._windows = 0  # windows classified (the last may be zero-padded after finish)
        self._audio = np.zeros(0, np.int16)  # pending audio: [_audio_start, _total)
        self._audio_start = 0
        self._voiced = np.zeros(0, bool)  # speech flag of windows [_voiced_start, _windows)
        self._voiced_start = 0
        self._lstm = np.zeros(_LSTM_SHAPE, np.float32)
        self._in_speech = False  # the hysteresis: was the last window speech
        self._open = -1  # start sample of the segment being gathered, -1 when none
        self._last_voiced = -1  # the last speech window
        self._cut_end = 0  # end of the last published cut: the next starts no earlier
        self._next_index = 0
        self._finished = False
        if state is not None:
            self._load(state)

    @property
    def total_samples(self) -> int:
        return self._total

    def feed(self, samples: NDArray[np.float32]) -> list[Cut]:
        """Take the next audio (16 kHz mono, any length) and return the cuts it completed."""
        if self._finished:
            raise ValueError("Segmenter.feed after finish(): the stream has ended")
        if samples.ndim != 1:
            raise ValueError(f"Segmenter.feed takes mono 1-D samples, got shape {samples.shape}")
        cuts: list[Cut] = []
        for start in range(0, len(samples), _FEED_SLICE):
            part = _to_pcm16(samples[start : start + _FEED_SLICE])
            self._audio = np.concatenate([self._audio, part])
            self._total += len(part)
            cuts += self._advance(self._total // WINDOW)
            self._drop_unneeded()
        return cuts

    def finish(self) -> list[Cut]:
        """End of stream: classify the last partial window (zero-padded, as faster-whisper does)
        and publish the pending segment if it holds enough speech. Idempotent."""
        if self._finished:
            return []
        cuts = self._advance(-(-self._total // WINDOW))
        if self._open >= 0:
            cuts += self._close(min((self._last_voiced + 1) * WINDOW + self._pad, self._total), -1)
        self._finished = True
        self._audio, self._audio_start = np.zeros(0, np.int16), self._total
        self._voiced, self._voiced_start = np.zeros(0, bool), self._windows
        return cuts

    def _advance(self, windows: int) -> list[Cut]:
        """Classify windows up to ``windows`` and apply the cutting rules after each one."""
        count = windows - self._windows
        if count <= 0:
            return []
        flags = np.zeros(count, bool)
        for i, p in enumerate(self._speech_probs(count)):
            self._in_speech = bool(
                p >= self.config.threshold or (self._in_speech and p >= self._neg_threshold)
            )
            flags[i] = self._in_speech
        first = self._windows
        self._voiced = np.concatenate([self._voiced, flags])
        self._windows = windows
        cuts: list[Cut] = []
        for w in range(first, windows):
            now = min((w + 1) * WINDOW, self._total)
            if flags[w - first]:
                if self._open < 0:
                    self._open = max(w * WINDOW - self._pad, self._cut_end)
                self._last_voiced = w
            while self._open >= 0 and now - self._open >= self._max_segment:
                cuts += self._cut_at_longest_pause(w)
            silence = w - self._last_voiced
            if (
                self._open >= 0
                and silence >= self._min_silence_windows
                and now - self._open >= self._min_segment
            ):
                cuts += self._close(min((self._last_voiced + 1) * WINDOW + self._pad, now), -1)
        return cuts

    def _speech_probs(self, count: int) -> NDArray[np.float32]:
        """Silero over ``count`` new windows, each with the 64 samples before it, LSTM carried."""
        start = self._windows * WINDOW
        audio = self._pcm(start - CONTEXT, start + count * WINDOW).astype(np.float32) / 32768.0
        frames = sliding_window_view(audio, CONTEXT + WINDOW)[::WINDOW]
        probs = []
        for i in range(0, count, _BATCH_WINDOWS):
            batch = np.ascontiguousarray(frames[i : i + _BATCH_WINDOWS])
            out, h, c = _vad_session().run(None, {"input": batch, "h": self._lstm[0], "c": self._lstm[1]})
            self._lstm = np.stack([h, c]).astype(np.float32)
            probs.append(np.asarray(out, np.float32).reshape(-1))
        return np.concatenate(probs)

    def _cut_at_longest_pause(self, w: int) -> list[Cut]:
        """The segment reached max_segment_s: cut it inside its longest pause before the limit."""
        limit = self._open + self._max_segment
        lo = self._open // WINDOW
        flags = self._voiced[lo - self._voiced_start : w + 1 - self._voiced_start]
        first_speech = int(np.argmax(flags))  # pauses count from the segment's first speech on
        edges = np.diff(np.concatenate([[0], ~flags[first_speech:], [0]]).astype(np.int8))
        starts = lo + first_speech + np.flatnonzero(edges == 1)
        ends = lo + first_speech + np.flatnonzero(edges == -1)
        inside = starts * WINDOW < limit
        if not inside.any():
            return self._close(limit, self._reopen_at(limit, w))
        starts, ends = starts[inside], ends[inside]
        best = np.lexsort((starts, ends - starts))[-1]  # longest; the latest of equals
        a, b = int(starts[best]), int(ends[best])
        # Speech end + pad, or the middle of a pause shorter than two pads (as get_speech_timestamps).
        end = min(a * WINDOW + min(self._pad, (b - a) * WINDOW // 2), limit)
        return self._close(end, -1 if b > w else self._reopen_at(max(end, b * WINDOW - self._pad), w))

    def _reopen_at(self, start: int, w: int) -> int:
        """Where the rest of a segment cut at the limit begins: -1 when it holds no speech."""
        rest = self._voiced[start // WINDOW - self._voiced_start : w + 1 - self._voiced_start]
        return start if rest.any() else -1

    def _close(self, end: int, reopen: int) -> list[Cut]:
        """Publish [open, end) unless it has too little speech; the next segment opens at reopen."""
        start, self._open = self._open, reopen
        first = start // WINDOW
        flags = self._voiced[first - self._voiced_start : -(-end // WINDOW) - self._voiced_start]
        voiced = (first + np.flatnonzero(flags)) * WINDOW  # first sample of each speech window
        overlap = np.minimum(voiced + WINDOW, end) - np.maximum(voiced, start)  # edge windows: in part
        speech_s = int(overlap.sum()) / TARGET_RATE_HZ
        if speech_s < self.config.min_speech_s:
            return []
        samples = self._pcm(start, end).astype(np.float32) / np.float32(32768.0)
        edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
        runs = zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)
        voiced_runs = tuple(
            (max(start, int(a + first) * WINDOW), min(end, int(b + first) * WINDOW)) for a, b in runs
        )
        cut = Cut(self._next_index, start, end, samples, speech_s, voiced_runs)
        self._next_index, self._cut_end = self._next_index + 1, end
        return [cut]

    def _pcm(self, start: int, end: int) -> NDArray[np.int16]:
        """Pending audio at absolute positions; zeros before the stream and after its end."""
        if max(start, 0) < self._audio_start:
            raise AssertionError(f"audio at {start} was dropped (pending from {self._audio_start})")
        out = np.zeros(end - start, np.int16)
        lo, hi = max(start, 0), min(end, self._total)
        if hi > lo:
            out[lo - start : hi - start] = self._audio[lo - self._audio_start : hi - self._audio_start]
        return out

    def _drop_unneeded(self) -> None:
        """Forget audio and flags no cut can reach any more, so long silence costs nothing."""
        classified = self._windows * WINDOW
        # With no segment open, the next starts no earlier than its first speech minus the pad.
        keep = self._open if self._open >= 0 else max(classified - self._pad, self._cut_end)
        keep = max(min(keep, classified - CONTEXT), self._audio_start)
        self._audio = self._audio[keep - self._audio_start :].copy()  # copy: free the old buffer
        self._audio_start = keep
        first_window = keep // WINDOW
        self._voiced = self._voiced[first_window - self._voiced_start :].copy()
        self._voiced_start = first_window

    def to_bytes(self) -> bytes:
        """Everything needed to go on (PCM16 pending audio, speech flags, LSTM state), versioned."""
        counters = (getattr(self, name) for name in _COUNTERS)
        header = _HEADER.pack(
            _MAGIC, _VERSION, self._finished, self._in_speech, *counters, len(self._audio), len(self._voiced)
        )
        voiced = np.packbits(self._voiced).tobytes()
        return header + self._lstm.astype("<f4").tobytes() + voiced + self._audio.astype("<i2").tobytes()

    def _load(self, state: bytes) -> None:
        if len(state) < _HEADER.size or state[:4] != _MAGIC:
            raise ValueError("segmenter state is not from this Segmenter (bad magic or too short)")
        _, version, self._finished, self._in_speech, *counters, n_audio, n_voiced = _HEADER.unpack_from(state)
        if version != _VERSION:
            raise ValueError(f"segmenter state version {version}, this code reads {_VERSION}")
        lstm_size, voiced_bytes = math.prod(_LSTM_SHAPE), -(-n_voiced // 8)
        if len(state) != _HEADER.size + 4 * lstm_size + voiced_bytes + 2 * n_audio:
            raise ValueError(f"segmenter state is truncated or corrupt ({len(state)} bytes)")
        for name, value in zip(_COUNTERS, counters, strict=True):
            setattr(self, name, value)
        at = _HEADER.size
        self._lstm = np.frombuffer(state, "<f4", lstm_size, at).astype(np.float32).reshape(_LSTM_SHAPE)
        at += 4 * lstm_size
        packed = np.frombuffer(state, np.uint8, voiced_bytes, at)
        self._voiced = np.unpackbits(packed, count=n_voiced).astype(bool)
        self._audio = np.frombuffer(state, "<i2", n_audio, at + voiced_bytes).astype(np.int16)


def voice_activity(
    samples: NDArray[np.float32], config: SegmenterConfig = SegmenterConfig()
) -> list[tuple[float, float]]:
    """The speech runs (seconds from the first sample) that ingest would put in the
    AudioSegment.voice_activity of this audio: the same Silero windows and hysteresis, over the
    whole array in one stream. Nothing is dropped as too short (``min_speech_s`` 0), so offline
    checks see every run; runs a cut at ``max_segment_s`` split are joined again."""
    segmenter = Segmenter(replace(config, min_speech_s=0.0))
    runs: list[tuple[int, int]] = []
    for cut in segmenter.feed(samples) + segmenter.finish():
        for start, end in cut.voiced:
            if runs and start <= runs[-1][1]:
                runs[-1] = (runs[-1][0], max(runs[-1][1], end))
            else:
                runs.append((start, end))
    return [(start / TARGET_RATE_HZ, end / TARGET_RATE_HZ) for start, end in runs]
