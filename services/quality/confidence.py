"""How far to trust a draft segment: one number in [0, 1], before calibration.

The score is raw on purpose: it is mapped to an expected accuracy elsewhere, by isotonic
regression against real corrections, which keeps only its order. So what matters here is that
it is reproducible (no learned parameters, no randomness) and monotone in the obvious signals:
higher word probabilities and log-probability raise it; a higher no-speech probability, a
temperature fallback and every fired detector lower it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from protos import transcripts_pb2
from services.quality.detectors import (
    KNOWN_PHRASE,
    LANGUAGE_MISMATCH,
    LOW_AVG_LOGPROB,
    NO_SPEECH_WITH_TEXT,
    REPETITION_LOOP,
    SPEAKING_RATE,
    TEXT_WITHOUT_SPEECH,
    TIMESTAMPS_INVALID,
)
from services.quality.detectors import (
    LOW_WORD_PROBABILITY as LOW_WORDS_DETECTOR,
)
from services.quality.speech import draft_text, speech_in_segment_s

# What a fired detector multiplies the confidence by.
DETECTOR_PENALTIES: Mapping[str, float] = MappingProxyType(
    {
        # The text is probably not in the audio at all: a person must look, whatever the decoder thought.
        TEXT_WITHOUT_SPEECH: 0.25,
        REPETITION_LOOP: 0.25,
        KNOWN_PHRASE: 0.25,
        # The text is implausible in part, or its times are: likely wrong somewhere.
        LANGUAGE_MISMATCH: 0.5,
        SPEAKING_RATE: 0.5,
        TIMESTAMPS_INVALID: 0.5,
        # Their signal is already in the base score (1 - no_speech_prob, exp(avg_logprob)); the
        # penalty only marks the crossing of faster-whisper's own limits.
        NO_SPEECH_WITH_TEXT: 0.75,
        LOW_AVG_LOGPROB: 0.75,
        LOW_WORDS_DETECTOR: 0.75,
    }
)
UNKNOWN_DETECTOR_PENALTY = 0.5  # a detector added later counts until it is given its own weight
# Probabilities are floored before taking logs: one word at 0 would otherwise zero the segment,
# and Whisper's word probabilities below 0.1% carry no more information than 0.1%.
MIN_WORD_PROBABILITY = 1e-3
# A segment with no text over this much speech has surely lost words; a shorter voiced blip is
# often a cough or a click that rightly has no text. Confidence falls linearly in between.
EMPTY_SPEECH_DOUBT_S = 2.0
# Below an even chance, the word is more likely wrong than right: worth a highlight.
LOW_WORD_PROBABILITY = 0.5


def segment_confidence(
    draft: transcripts_pb2.DraftTranscript, results: Iterable[transcripts_pb2.DetectorResult]
) -> float:
    """The draft's confidence, in [0, 1].

    With words: the geometric mean of the word probabilities, and of the tokens' (exp of
    ``avg_logprob``), combined by a geometric mean as well (two estimates of the same thing, at
    different grain, so neither is counted twice), times (1 - ``no_speech_prob``), times
    (1 - temperature / 2) (a decode that needed temperature fallback failed Whisper's own checks
    at the lower temperatures), times the penalty of each fired detector.

    The geometric mean is the length-normalised probability of the whole word sequence: one
    very doubtful word pulls it down far more than an arithmetic mean would, which is what a
    reviewer cares about (a segment is wrong if any word is). It is not weighted by duration:
    word times are the draft's least reliable part, and a hallucinated word stretched over a
    silence would weigh the most.

    Without text: 1.0 when nobody spoke (silence transcribed as silence is right), falling to
    0.0 as the segment's speech grows to ``EMPTY_SPEECH_DOUBT_S`` (words were missed).
    """
    segment = draft.segment
    if not draft_text(draft):
        return max(0.0, 1.0 - speech_in_segment_s(draft) / EMPTY_SPEECH_DOUBT_S)
    token_probability = math.exp(min(segment.avg_logprob, 0.0))  # 0.0 when unset: neutral
    if segment.words:
        logs = [math.log(min(max(w.probability, MIN_WORD_PROBABILITY), 1.0)) for w in segment.words]
        base = math.sqrt(math.exp(sum(logs) / len(logs)) * token_probability)
    else:
        base = token_probability  # text without word timestamps: the decoder's view alone
    confidence = base * (1.0 - _unit(segment.no_speech_prob)) * (1.0 - _unit(segment.temperature) / 2)
    for result in results:
        if result.fired:
            confidence *= DETECTOR_PENALTIES.get(result.name, UNKNOWN_DETECTOR_PENALTY)
    return _unit(confidence)


def low_confidence_words(
    draft: transcripts_pb2.DraftTranscript, threshold: float = LOW_WORD_PROBABILITY
) -> list[int]:
    """Indices into ``draft.segment.words`` of the words below ``threshold``, for highlighting."""
    return [i for i, word in enumerate(draft.segment.words) if word.probability < threshold]


def _unit(value: float) -> float:
    return min(max(value, 0.0), 1.0)
