"""Grouping a poll's segments into runs, joining their audio, and giving each its words back."""

from __future__ import annotations

import numpy as np
import pytest

from protos import audio_pb2
from services.asr.coalesce import (
    GAP_FILL_MAX_S,
    Piece,
    coalesce_runs,
    join_audio,
    owner,
    split_transcription,
)
from services.asr.drafting import transcript_segment
from services.asr.handler import wants_rest_of_burst
from services.asr.transcriber import SAMPLE_RATE_HZ, TranscribedSegment, TranscribedWord, Transcription
from shared.kafka.consumer import Inbound
from shared.topics import AUDIO_SEGMENTS


def piece(index: int, start_s: float, end_s: float, recording: str = "r", hint: str = "") -> Piece:
    return Piece(recording, index, start_s, end_s, hint)


def whisper_segment(
    start_s: float, end_s: float, words: list[tuple[str, float, float]], **scores: float
) -> TranscribedSegment:
    return TranscribedSegment(
        index=0,
        start_s=start_s,
        end_s=end_s,
        text=" ".join(w for w, _, _ in words) + ".",
        words=tuple(TranscribedWord(w, a, b, 0.9) for w, a, b in words),
        avg_logprob=scores.get("avg_logprob", -0.2),
        no_speech_prob=scores.get("no_speech_prob", 0.01),
        compression_ratio=scores.get("compression_ratio", 1.3),
        temperature=scores.get("temperature", 0.0),
    )


# --- coalesce_runs ---


def test_consecutive_segments_of_a_recording_form_one_run_across_short_pauses() -> None:
    pieces = [piece(0, 6.6, 30.2), piece(1, 37.5, 60.2), piece(2, 67.5, 90.2), piece(3, 97.5, 120.0)]
    assert coalesce_runs(pieces, 120.0) == [[0, 1, 2, 3]]


def test_the_cap_counts_audio_and_filled_pauses_and_starts_a_new_run() -> None:
    # 20 s each, pauses filled with GAP_FILL_MAX_S: 20 + 2.5 + 20 = 42.5 fits 45, a third does not.
    pieces = [piece(0, 0.0, 20.0), piece(1, 30.0, 50.0), piece(2, 60.0, 80.0)]
    assert 20 + GAP_FILL_MAX_S + 20 <= 45.0 < 60 + 2 * GAP_FILL_MAX_S
    assert coalesce_runs(pieces, 45.0) == [[0, 1], [2]]


def test_zero_cap_decodes_every_segment_alone() -> None:
    pieces = [piece(0, 0.0, 10.0), piece(1, 10.0, 20.0)]
    assert coalesce_runs(pieces, 0.0) == [[0], [1]]


def test_a_single_segment_is_a_run_of_one() -> None:
    assert coalesce_runs([piece(5, 100.0, 125.0)], 120.0) == [[0]]


def test_other_recordings_in_between_do_not_break_a_run() -> None:
    pieces = [
        piece(0, 0.0, 10.0, "a"),
        piece(0, 0.0, 10.0, "b"),
        piece(1, 10.0, 20.0, "a"),
        piece(1, 10, 20, "b"),
    ]
    assert coalesce_runs(pieces, 120.0) == [[0, 2], [1, 3]]


@pytest.mark.parametrize(
    "second",
    [
        piece(2, 10.0, 20.0),  # index 1 missing: never coalesce across a hole
        piece(1, 5.0, 20.0),  # overlaps the first: not the next audio
        piece(1, 10.0, 20.0, hint="fr"),  # another hint: the first hint fixes the language
    ],
)
def test_segments_that_do_not_follow_each_other_are_decoded_apart(second: Piece) -> None:
    assert coalesce_runs([piece(0, 0.0, 10.0, hint=""), second], 120.0) == [[0], [1]]


def test_an_end_marker_stays_alone() -> None:
    marker = Piece("r", 2, 20.0, 20.0, has_audio=False)
    assert coalesce_runs([piece(0, 0.0, 10.0), piece(1, 10.0, 20.0), marker], 120.0) == [[0, 1], [2]]


# --- join_audio ---


def test_joined_audio_fills_pauses_with_at_most_the_cap_of_zeros() -> None:
    ones = [np.ones(SAMPLE_RATE_HZ * 2, np.float32), np.ones(SAMPLE_RATE_HZ, np.float32)] * 2
    pieces = [piece(0, 0.0, 2.0), piece(1, 3.0, 4.0), piece(2, 14.0, 16.0), piece(3, 16.0, 17.0)]
    joined = join_audio(pieces, ones)
    assert joined.offsets_s == (0.0, 3.0, 4.0 + GAP_FILL_MAX_S, 6.0 + GAP_FILL_MAX_S)
    assert joined.durations_s == (2.0, 1.0, 2.0, 1.0)
    assert len(joined.samples) == round((7.0 + GAP_FILL_MAX_S) * SAMPLE_RATE_HZ)
    assert joined.samples[2 * SAMPLE_RATE_HZ : 3 * SAMPLE_RATE_HZ].max() == 0.0
    assert joined.samples.sum() == 6 * SAMPLE_RATE_HZ  # every sample of audio, once


# --- owner and split_transcription ---


def test_a_time_in_a_filled_pause_belongs_to_the_nearest_segment() -> None:
    offsets, durations = (0.0, 12.5), (10.0, 10.0)
    assert [owner(t, offsets, durations) for t in (5.0, 10.5, 12.0, 15.0, 25.0)] == [0, 0, 1, 1, 1]


def test_words_go_to_the_segment_holding_their_midpoint_in_its_own_time() -> None:
    transcription = Transcription(
        "en",
        0.98,
        22.5,
        [
            whisper_segment(0.0, 4.0, [("hello", 0.5, 1.0), ("there", 1.2, 1.6)]),
            # straddles the seam at 10 s: "so" and "we" before it, "go" after (midpoint 10.3)
            whisper_segment(8.0, 12.0, [("so", 8.5, 9.0), ("we", 9.2, 9.9), ("go", 9.95, 10.65)]),
            whisper_segment(13.0, 15.0, [("bye", 13.2, 13.6)]),
        ],
    )
    first, second = split_transcription(transcription, (0.0, 10.0), (10.0, 12.5))
    assert [w.text for s in first.segments for w in s.words] == ["hello", "there", "so", "we"]
    assert [w.text for s in second.segments for w in s.words] == ["go", "bye"]
    assert [s.text for s in first.segments] == ["hello there.", "so we"]  # whole text kept when whole
    assert [s.text for s in second.segments] == ["go", "bye."]
    assert second.segments[0].words[0].start_s == 0.0  # 9.95 clamped to the segment's first sample
    assert second.segments[0].words[0].end_s == pytest.approx(0.65)
    assert second.segments[1].start_s == pytest.approx(3.0) and second.segments[1].index == 1
    assert (first.duration_s, second.duration_s) == (10.0, 12.5)
    assert first.language == second.language == "en"
    for part in (first, second):
        for s in part.segments:
            assert 0.0 <= s.start_s <= s.end_s <= part.duration_s
            assert all(s.start_s <= w.start_s <= w.end_s <= s.end_s for w in s.words)


def test_a_segment_without_words_gets_nothing_and_reads_as_silence() -> None:
    transcription = Transcription("en", 0.9, 30.0, [whisper_segment(0.0, 5.0, [("yes", 1.0, 1.4)])])
    spoken, silent = split_transcription(transcription, (0.0, 12.5), (10.0, 10.0))
    assert len(spoken.segments) == 1 and silent.segments == []


def test_whisper_segments_without_words_go_by_their_midpoint() -> None:
    transcription = Transcription("en", 0.9, 30.0, [whisper_segment(9.0, 14.0, [])])
    first, second = split_transcription(transcription, (0.0, 10.0), (10.0, 10.0))
    assert first.segments == [] and len(second.segments) == 1 and second.segments[0].start_s == 0.0


def test_scores_of_a_straddling_whisper_segment_count_on_both_sides_by_overlap() -> None:
    transcription = Transcription(
        "en",
        0.9,
        20.0,
        [
            whisper_segment(0.0, 6.0, [("a", 1.0, 1.5)], avg_logprob=-0.1),
            whisper_segment(
                6.0,
                14.0,
                [("b", 7.0, 7.5), ("c", 12.0, 12.5)],
                avg_logprob=-1.0,
                no_speech_prob=0.5,
                compression_ratio=2.5,
                temperature=0.4,
            ),
        ],
    )
    first, second = split_transcription(transcription, (0.0, 10.0), (10.0, 10.0))
    drafts = [
        transcript_segment(
            t,
            [],
            segment_id=f"r:{i}",
            index=i,
            start_s=10.0 * i,
            end_s=10.0 * (i + 1),
            language="en",
            language_probability=0.9,
        )
        for i, t in enumerate((first, second))
    ]
    # first: 6 s at -0.1 and the straddler's 4 s inside it at -1.0; second: only the straddler.
    assert drafts[0].avg_logprob == pytest.approx((6 * -0.1 + 4 * -1.0) / 10)
    assert drafts[1].avg_logprob == pytest.approx(-1.0)
    for draft in drafts:  # the worst sub-segment's, on both sides
        assert draft.no_speech_prob == pytest.approx(0.5) and draft.compression_ratio == pytest.approx(2.5)
        assert draft.temperature == pytest.approx(0.4)
    assert (drafts[0].text, drafts[1].text) == ("a. b", "c")


def inbound(
    recording: str, index: int, more_queued: bool, last: bool = False
) -> Inbound[audio_pb2.AudioSegment]:
    segment = audio_pb2.AudioSegment(
        segment_id=f"{recording}-{index}", index=index, more_queued=more_queued, last=last
    )
    segment.context.recording_id = recording
    return Inbound(segment, f"m-{recording}-{index}", "t", AUDIO_SEGMENTS.name, 0, index, recording.encode())


def test_the_consumer_waits_while_a_recordings_latest_segment_says_more_follow() -> None:
    assert wants_rest_of_burst([inbound("a", 0, more_queued=True)])
    assert not wants_rest_of_burst([inbound("a", 0, more_queued=False)]), "a live stream never waits"
    assert not wants_rest_of_burst([inbound("a", 0, True), inbound("a", 1, False)]), "the burst is in"
    assert wants_rest_of_burst([inbound("a", 1, True), inbound("a", 0, False)]), "its latest by index"
    assert not wants_rest_of_burst([inbound("a", 3, True, last=True)])
    assert wants_rest_of_burst([inbound("a", 0, False), inbound("b", 0, True)]), "any recording's burst"
    assert not wants_rest_of_burst([])
