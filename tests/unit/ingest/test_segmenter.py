"""The segmenter on real speech (pyannote.audio's 30 s two-speaker phone call) with the real Silero
VAD model: what it cuts, that chunking and a trip through bytes change nothing, that memory stays
bounded. Timings and cuts are printed (``pytest -s`` shows them)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pytest
import soundfile as sf
from faster_whisper.vad import VadOptions, get_speech_timestamps
from numpy.typing import NDArray

from services.ingest.segmenter import WINDOW, Cut, Segmenter, SegmenterConfig
from tests.samples import pyannote_sample

RATE = 16_000
HALF_SECOND = RATE // 2
DEFAULT = SegmenterConfig()


@dataclass
class Run:
    cuts: list[Cut] = field(default_factory=list)
    emitted_at: list[int | None] = field(default_factory=list)  # total_samples at feed; None: finish
    max_state_bytes: int = 0


def segment(
    config: SegmenterConfig,
    audio: NDArray[np.float32],
    chunk: int | None = None,
    round_trip: bool = False,
) -> Run:
    """Feed ``audio`` whole or in chunks (optionally through bytes after each, as the service
    does between chunks), then finish."""
    run, segmenter = Run(), Segmenter(config)
    for start in range(0, len(audio), chunk or len(audio)):
        for cut in segmenter.feed(audio[start : start + (chunk or len(audio))]):
            run.cuts.append(cut)
            run.emitted_at.append(segmenter.total_samples)
        state = segmenter.to_bytes()
        run.max_state_bytes = max(run.max_state_bytes, len(state))
        if round_trip:
            segmenter = Segmenter(config, state)
    tail = segmenter.finish()
    run.cuts += tail
    run.emitted_at += [None] * len(tail)
    return run


def check_cuts(run: Run, audio: NDArray[np.float32], config: SegmenterConfig) -> None:
    """What every consumer relies on, whatever the audio."""
    previous_end = 0
    for i, cut in enumerate(run.cuts):
        assert cut.index == i
        assert previous_end <= cut.start_sample < cut.end_sample <= len(audio)
        assert cut.end_sample - cut.start_sample <= config.max_segment_s * RATE
        np.testing.assert_array_equal(cut.samples, audio[cut.start_sample : cut.end_sample])
        assert config.min_speech_s <= cut.speech_s <= (cut.end_sample - cut.start_sample) / RATE
        previous_end = cut.end_sample


def bounds(run: Run) -> list[tuple[int, int]]:
    return [(c.start_sample, c.end_sample) for c in run.cuts]


def assert_same_cuts(a: Run, b: Run) -> None:
    """Same cuts, boundaries within one VAD window (float noise may flip a threshold)."""
    assert len(a.cuts) == len(b.cuts), (bounds(a), bounds(b))
    for (s1, e1), (s2, e2) in zip(bounds(a), bounds(b), strict=True):
        assert abs(s1 - s2) <= WINDOW and abs(e1 - e2) <= WINDOW, (bounds(a), bounds(b))


def state_bound(config: SegmenterConfig) -> int:
    """PCM16 of one maximal segment, a window either side, plus header, flags and LSTM state."""
    return 2 * (round(config.max_segment_s * RATE) + 2 * WINDOW) + 4096


@pytest.fixture(scope="module")
def sample() -> NDArray[np.float32]:
    audio, rate = sf.read(pyannote_sample().wav, dtype="float32")
    assert rate == RATE and audio.ndim == 1
    return np.asarray(audio, np.float32)


@pytest.fixture(scope="module")
def call_twice(sample: NDArray[np.float32]) -> NDArray[np.float32]:
    """The call followed by itself: the pause before the second copy's speech ends a segment."""
    return np.concatenate([sample, sample])


@pytest.fixture(scope="module")
def dense_speech(sample: NDArray[np.float32]) -> NDArray[np.float32]:
    """The sample twice with its pauses (>= 100 ms) removed: ~43 s of talk with no pause."""
    stamps = get_speech_timestamps(sample, VadOptions(min_silence_duration_ms=100, speech_pad_ms=0))
    speech = np.concatenate([sample[s["start"] : s["end"]] for s in stamps])
    return np.concatenate([speech, speech])


def test_default_config_cuts_the_sample_around_its_speech(sample: NDArray[np.float32]) -> None:
    run = segment(DEFAULT, sample)
    print("\ncuts (s):", [(round(c.start_s, 2), round(c.end_s, 2), round(c.speech_s, 2)) for c in run.cuts])
    check_cuts(run, sample, DEFAULT)
    assert run.cuts
    # The reference turns (6.69 s to the end) lie inside the cuts; the leading silence does not.
    turns = [line.split() for line in pyannote_sample().rttm.read_text().splitlines() if line.strip()]
    referenced = np.zeros(len(sample), bool)
    for turn in turns:
        referenced[round(float(turn[3]) * RATE) : round((float(turn[3]) + float(turn[4])) * RATE)] = True
    in_cuts = np.zeros(len(sample), bool)
    for cut in run.cuts:
        in_cuts[cut.start_sample : cut.end_sample] = True
    assert np.count_nonzero(referenced & in_cuts) >= 0.98 * np.count_nonzero(referenced)
    assert run.cuts[0].start_s > 6.0


@pytest.mark.parametrize("chunk", [HALF_SECOND, 511, 12_345])
def test_chunks_give_the_cuts_of_one_call(call_twice: NDArray[np.float32], chunk: int) -> None:
    whole = segment(DEFAULT, call_twice)
    chunked = segment(DEFAULT, call_twice, chunk)
    check_cuts(chunked, call_twice, DEFAULT)
    assert_same_cuts(whole, chunked)


def test_state_through_bytes_after_every_chunk_changes_nothing(call_twice: NDArray[np.float32]) -> None:
    kept = segment(DEFAULT, call_twice, HALF_SECOND)
    restored = segment(DEFAULT, call_twice, HALF_SECOND, round_trip=True)
    check_cuts(restored, call_twice, DEFAULT)
    assert bounds(restored) == bounds(kept)
    assert restored.max_state_bytes <= state_bound(DEFAULT)
    # Mid-stream, mid-segment: the restored segmenter's state is the same bytes and goes on alike.
    segmenter = Segmenter(DEFAULT)
    segmenter.feed(call_twice[: 20 * RATE + 123])
    state = segmenter.to_bytes()
    twin = Segmenter(DEFAULT, state)
    assert twin.to_bytes() == state and twin.total_samples == segmenter.total_samples
    rest = call_twice[20 * RATE + 123 :]
    assert bounds(Run(twin.feed(rest) + twin.finish())) == bounds(
        Run(segmenter.feed(rest) + segmenter.finish())
    )


def test_silence_gives_no_cuts_and_a_small_state() -> None:
    run = segment(DEFAULT, np.zeros(120 * RATE, np.float32), HALF_SECOND, round_trip=True)
    assert run.cuts == []
    assert run.max_state_bytes < 16_000


@pytest.mark.parametrize("max_segment_s", [30.0, 5.0])
def test_speech_without_pauses_is_cut_within_the_limit(
    dense_speech: NDArray[np.float32], max_segment_s: float
) -> None:
    config = SegmenterConfig(max_segment_s=max_segment_s)
    run = segment(config, dense_speech, HALF_SECOND)
    check_cuts(run, dense_speech, config)
    assert len(run.cuts) >= len(dense_speech) / RATE / max_segment_s
    assert sum(c.end_sample - c.start_sample for c in run.cuts) >= 0.95 * len(dense_speech)
    assert run.max_state_bytes <= state_bound(config)
    if max_segment_s == 5.0:  # stretches of 5 s without a single silent window: cut at the limit
        limit = round(max_segment_s * RATE)
        at_limit = [i for i, c in enumerate(run.cuts[:-1]) if c.end_sample - c.start_sample == limit]
        assert at_limit
        assert all(run.cuts[i + 1].start_sample == run.cuts[i].end_sample for i in at_limit)


def test_short_limit_cuts_the_sample_while_it_runs(sample: NDArray[np.float32]) -> None:
    config = SegmenterConfig(max_segment_s=5.0)
    run = segment(config, sample, HALF_SECOND)
    check_cuts(run, sample, config)
    assert len(run.cuts) >= 4
    assert sum(at is not None for at in run.emitted_at) >= 3
    assert run.max_state_bytes <= state_bound(config)


def test_finish_flushes_speech_still_going_on(sample: NDArray[np.float32]) -> None:
    head = sample[: 20 * RATE]  # ends inside a turn (18.05 s to 21.49 s)
    segmenter = Segmenter(DEFAULT)
    assert segmenter.feed(head) == []
    tail = segmenter.finish()
    assert len(tail) == 1 and tail[0].end_sample == len(head)
    assert segmenter.finish() == []
    with pytest.raises(ValueError, match="after finish"):
        segmenter.feed(head)


def test_a_pause_after_min_segment_publishes_before_the_stream_ends(
    call_twice: NDArray[np.float32],
) -> None:
    run = segment(DEFAULT, call_twice, HALF_SECOND)
    first, emitted_at = run.cuts[0], run.emitted_at[0]
    assert emitted_at is not None, "the first segment waited for finish()"
    # Published once the pause was long enough: min_silence_s after the speech, plus one chunk.
    speech_end = first.end_sample - round(DEFAULT.speech_pad_s * RATE)
    assert emitted_at - speech_end <= (DEFAULT.min_silence_s + 0.5) * RATE + WINDOW
    assert first.end_s - first.start_s >= DEFAULT.min_segment_s


def test_quiet_white_noise_gives_few_cuts() -> None:
    noise = (np.random.default_rng(7).standard_normal(60 * RATE) * 0.01).astype(np.float32)  # -40 dBFS
    run = segment(DEFAULT, noise, HALF_SECOND)
    assert len(run.cuts) <= 1


def test_bad_input_and_state_are_refused(sample: NDArray[np.float32]) -> None:
    with pytest.raises(ValueError, match="bad magic"):
        Segmenter(DEFAULT, b"not a state")
    segmenter = Segmenter(DEFAULT)
    segmenter.feed(sample[: 10 * RATE])
    with pytest.raises(ValueError, match="truncated"):
        Segmenter(DEFAULT, segmenter.to_bytes()[:-1])
    with pytest.raises(ValueError, match="mono"):
        segmenter.feed(np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError, match="threshold"):
        SegmenterConfig(threshold=1.5)


def test_time_to_segment_the_sample_live(sample: NDArray[np.float32]) -> None:
    Segmenter(DEFAULT).feed(sample[: 4 * WINDOW])  # load the model outside the timing
    started = time.perf_counter()
    plain = segment(DEFAULT, sample, HALF_SECOND)
    plain_s = time.perf_counter() - started
    started = time.perf_counter()
    segment(DEFAULT, sample, HALF_SECOND, round_trip=True)
    round_trip_s = time.perf_counter() - started
    audio_s = len(sample) / RATE
    print(
        f"\n{audio_s:.0f} s of audio in 0.5 s chunks: {plain_s * 1000:.0f} ms "
        f"({audio_s / plain_s:.0f}x real time), {round_trip_s * 1000:.0f} ms with the state through "
        f"bytes after every chunk; largest state {plain.max_state_bytes / 1000:.0f} kB"
    )
