"""The draft's raw confidence: bounded, reproducible, and monotone in the signals it reads."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from protos import common_pb2, transcripts_pb2
from services.quality.confidence import (
    DETECTOR_PENALTIES,
    UNKNOWN_DETECTOR_PENALTY,
    low_confidence_words,
    segment_confidence,
)
from services.quality.detectors import DETECTOR_NAMES, DetectorConfig, run_detectors
from services.quality.phrases import load_phrases

WORDS = ("Thanks", "for", "calling,", "how", "can", "I", "help?")


def make_draft(
    probabilities: Sequence[float] = (0.95, 0.9, 0.92, 0.97, 0.93, 0.99, 0.9),
    *,
    text: str | None = None,
    vad: Sequence[tuple[float, float]] = ((0.3, 3.0),),
    avg_logprob: float = -0.2,
    no_speech_prob: float = 0.02,
    temperature: float = 0.0,
) -> transcripts_pb2.DraftTranscript:
    """A draft of up to seven words, 0.35 s apart, with the given word probabilities."""
    words = [
        common_pb2.Word(text=f" {w}", start_s=0.5 + i * 0.35, end_s=0.8 + i * 0.35, probability=p)
        for i, (w, p) in enumerate(zip(WORDS, probabilities, strict=False))
    ]
    return transcripts_pb2.DraftTranscript(
        segment=common_pb2.TranscriptSegment(
            start_s=0.0,
            end_s=4.0,
            text=" ".join(w.text.strip() for w in words) if text is None else text,
            words=words,
            language="en",
            avg_logprob=avg_logprob,
            no_speech_prob=no_speech_prob,
            compression_ratio=1.3,
            temperature=temperature,
        ),
        voice_activity=[common_pb2.SpeechSpan(start_s=s, end_s=e) for s, e in vad],
    )


def fired(*names: str) -> list[transcripts_pb2.DetectorResult]:
    return [transcripts_pb2.DetectorResult(name=n, fired=n in names) for n in DETECTOR_NAMES]


def test_a_clean_draft_is_trusted() -> None:
    draft = make_draft()
    results = run_detectors(draft, DetectorConfig(), load_phrases(), "en")
    assert 0.8 < segment_confidence(draft, results) <= 1.0


def test_the_same_draft_always_gets_the_same_confidence() -> None:
    assert segment_confidence(make_draft(), fired()) == segment_confidence(make_draft(), fired())


def test_silence_transcribed_as_silence_is_right() -> None:
    assert segment_confidence(make_draft([], vad=[]), fired()) == 1.0


@pytest.mark.parametrize(("speech", "confidence"), [((0.0, 0.5), 0.75), ((0.0, 1.0), 0.5), ((0.0, 3.0), 0.0)])
def test_speech_without_words_loses_confidence_as_the_speech_grows(
    speech: tuple[float, float], confidence: float
) -> None:
    assert segment_confidence(make_draft([], vad=[speech]), fired()) == pytest.approx(confidence)


def test_text_where_nobody_spoke_is_barely_trusted() -> None:
    draft = make_draft(vad=[])
    results = run_detectors(draft, DetectorConfig(), load_phrases(), "en")
    assert [r.name for r in results if r.fired] == ["text_without_speech"]
    assert segment_confidence(draft, results) < 0.3


def test_text_without_word_times_is_judged_by_the_decoder_alone() -> None:
    draft = make_draft([], text="Thanks for calling.", avg_logprob=-0.5)
    assert segment_confidence(draft, fired()) == pytest.approx(0.6065 * 0.98, abs=1e-4)


def test_one_doubtful_word_weighs_more_than_in_an_arithmetic_mean() -> None:
    sure, doubtful = (0.9,) * 7, (0.9,) * 6 + (0.05,)
    ratio = segment_confidence(make_draft(doubtful), fired()) / segment_confidence(make_draft(sure), fired())
    # The word part is one factor of a square root: the geometric means' ratio, to the power 1/2.
    assert ratio == pytest.approx((0.05 / 0.9) ** (1 / 14), rel=1e-6)
    assert ratio < math.sqrt((sum(doubtful) / 7) / 0.9)  # what an arithmetic mean would give


@pytest.mark.parametrize("word", range(len(WORDS)))
def test_a_more_probable_word_never_lowers_confidence(word: int) -> None:
    probabilities = [0.6] * len(WORDS)
    lower = segment_confidence(make_draft(probabilities), fired())
    probabilities[word] = 0.9
    assert segment_confidence(make_draft(probabilities), fired()) > lower


def test_decoder_signals_move_confidence_the_obvious_way() -> None:
    base = segment_confidence(make_draft(), fired())
    assert segment_confidence(make_draft(avg_logprob=-0.8), fired()) < base
    assert segment_confidence(make_draft(no_speech_prob=0.4), fired()) < base
    assert segment_confidence(make_draft(temperature=0.4), fired()) < base


def test_every_fired_detector_lowers_confidence_further() -> None:
    previous = segment_confidence(make_draft(), fired())
    for i in range(1, len(DETECTOR_NAMES) + 1):
        current = segment_confidence(make_draft(), fired(*DETECTOR_NAMES[:i]))
        assert current < previous
        previous = current
    assert set(DETECTOR_PENALTIES) == set(DETECTOR_NAMES)


def test_a_detector_added_later_still_counts() -> None:
    results = [transcripts_pb2.DetectorResult(name="new_detector", fired=True)]
    expected = segment_confidence(make_draft(), []) * UNKNOWN_DETECTOR_PENALTY
    assert segment_confidence(make_draft(), results) == pytest.approx(expected)


def test_confidence_stays_within_zero_and_one_at_the_extremes() -> None:
    worst = make_draft((0.0,) * 7, avg_logprob=-20.0, no_speech_prob=1.0, temperature=1.0)
    assert segment_confidence(worst, fired(*DETECTOR_NAMES)) == 0.0
    best = make_draft((1.0,) * 7, avg_logprob=0.0, no_speech_prob=0.0)
    assert segment_confidence(best, fired()) == 1.0


def test_low_confidence_words_are_the_indices_below_the_threshold() -> None:
    draft = make_draft((0.95, 0.3, 0.92, 0.49, 0.5, 0.99, 0.1))
    assert low_confidence_words(draft) == [1, 3, 6]
    assert low_confidence_words(draft, threshold=0.93) == [1, 2, 3, 4, 6]
    assert low_confidence_words(make_draft([], vad=[])) == []
