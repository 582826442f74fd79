"""How a draft segment is assembled from Whisper's sub-segments and the linked speaker turns."""

from __future__ import annotations

import numpy as np

from services.asr.diarizer import Diarization
from services.asr.drafting import _turns, shifted, transcript_segment
from services.asr.speakers import SpeakerWord, Turn
from services.asr.transcriber import TranscribedSegment, TranscribedWord, Transcription


def part(index: int, start_s: float, end_s: float, text: str, **signals: float) -> TranscribedSegment:
    words = tuple(
        TranscribedWord(w, start_s + i * 0.5, start_s + i * 0.5 + 0.4, 0.9)
        for i, w in enumerate(text.split())
    )
    return TranscribedSegment(
        index,
        start_s,
        end_s,
        text,
        words,
        avg_logprob=signals.get("avg_logprob", -0.2),
        no_speech_prob=signals.get("no_speech_prob", 0.01),
        compression_ratio=signals.get("compression_ratio", 1.2),
        temperature=signals.get("temperature", 0.0),
    )


def test_signals_are_the_worst_sub_segment_and_a_duration_weighted_logprob() -> None:
    t = Transcription(
        "de",
        0.97,
        12.0,
        [
            part(0, 0.0, 9.0, "guten Tag", avg_logprob=-0.1),
            part(
                1,
                9.0,
                12.0,
                "danke",
                avg_logprob=-1.0,
                no_speech_prob=0.6,
                compression_ratio=2.6,
                temperature=0.4,
            ),
        ],
    )
    words = [
        SpeakerWord(w.text, w.start_s, w.end_s, w.probability, "SPEAKER_01", False)
        for s in t.segments
        for w in s.words
    ]
    seg = transcript_segment(
        t,
        words,
        segment_id="r:000003",
        index=3,
        start_s=40.0,
        end_s=52.0,
        language="de",
        language_probability=0.97,
    )
    assert seg.text == "guten Tag danke" and [w.text for w in seg.words] == ["guten", "Tag", "danke"]
    assert np.isclose(seg.avg_logprob, (-0.1 * 9 - 1.0 * 3) / 12)
    assert np.isclose(seg.no_speech_prob, 0.6) and np.isclose(seg.compression_ratio, 2.6)
    assert np.isclose(seg.temperature, 0.4)
    assert seg.speaker == "SPEAKER_01" and seg.language == "de"


def test_a_segment_without_speech_is_an_honest_empty_draft() -> None:
    seg = transcript_segment(
        Transcription("en", 0.5, 3.0, []),
        [],
        segment_id="r:0",
        index=0,
        start_s=0.0,
        end_s=3.0,
        language="en",
        language_probability=0.5,
    )
    assert seg.text == "" and not seg.words and seg.no_speech_prob == 1.0 and seg.speaker == ""


def test_words_move_to_recording_time() -> None:
    words = [TranscribedWord("hi", 0.5, 0.9, 0.8)]
    assert shifted(words, 21.7)[0].start_s == 22.2


def test_unlinkable_speakers_turns_are_dropped_and_others_relabelled() -> None:
    diarization = Diarization(
        turns=(Turn(0.0, 6.0, "SPEAKER_00"), Turn(5.5, 6.2, "SPEAKER_01")),
        embeddings={"SPEAKER_00": np.ones(192, np.float32)},
        speech_s={"SPEAKER_00": 6.0, "SPEAKER_01": 0.7},
    )
    turns = _turns(diarization, {"SPEAKER_00": "SPEAKER_03", "SPEAKER_01": ""}, offset_s=20.0)
    assert turns == [Turn(20.0, 26.0, "SPEAKER_03")]
