"""Words to speakers, and a segment's local speakers to the recording's speakers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.typing import NDArray
from pyannote.core import Annotation, Segment

from services.asr.speakers import (
    SpeakerRegistry,
    SpeakerWord,
    Turn,
    assign_speakers,
    dominant_speaker,
    turns_from_annotation,
)
from services.asr.transcriber import TranscribedWord

DIM = 192


def word(start_s: float, end_s: float, text: str = "word") -> TranscribedWord:
    return TranscribedWord(text, start_s, end_s, 0.9)


def one(start_s: float, end_s: float, turns: list[Turn]) -> SpeakerWord:
    (assigned,) = assign_speakers([word(start_s, end_s)], turns)
    return assigned


def axis(i: int, scale: float = 1.0) -> NDArray[np.float32]:
    """A unit direction of its own: orthogonal to every other axis (cosine 0)."""
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = scale
    return v


def between(a: int, b: int, cosine_to_a: float) -> NDArray[np.float32]:
    """A unit vector in the plane of axes a and b at the given cosine to axis a."""
    return axis(a, cosine_to_a) + axis(b, float(np.sqrt(1 - cosine_to_a**2)))


# --- words to speakers ---


def test_word_inside_a_turn_gets_its_speaker_and_keeps_its_fields() -> None:
    (w,) = assign_speakers([TranscribedWord(" Hello", 1.0, 1.4, 0.8)], [Turn(0.5, 2.0, "A")])
    assert w == SpeakerWord(" Hello", 1.0, 1.4, 0.8, "A", False)


def test_word_across_two_turns_goes_to_the_larger_share() -> None:
    turns = [Turn(0.0, 1.3, "A"), Turn(1.3, 3.0, "B")]
    assert one(1.0, 1.5, turns).speaker == "A"  # 0.3 s against 0.2 s
    assert one(1.2, 1.6, turns).speaker == "B"


def test_shares_add_up_over_a_speakers_turns() -> None:
    """A's two short turns (0.1 + 0.1) beat B's single 0.15 s under one word."""
    turns = [Turn(0.0, 1.1, "A"), Turn(1.1, 1.25, "B"), Turn(1.25, 1.3, "C"), Turn(1.3, 1.4, "A")]
    assert one(1.0, 1.4, turns).speaker == "A"


def test_turns_need_not_be_in_order() -> None:
    turns = [Turn(2.0, 3.0, "B"), Turn(0.0, 1.0, "A")]
    assert [w.speaker for w in assign_speakers([word(0.2, 0.4), word(2.2, 2.4)], turns)] == ["A", "B"]


def test_word_in_a_gap_takes_the_nearest_turn_within_the_gap_limit() -> None:
    turns = [Turn(0.0, 1.0, "A"), Turn(2.0, 3.0, "B")]
    assert one(1.1, 1.3, turns).speaker == "A"  # 0.1 s after A, 0.7 s before B
    assert one(1.6, 1.8, turns).speaker == "B"
    assert one(1.2, 1.7, [Turn(0.0, 1.0, "A")]).speaker == "A"  # 0.2 s
    assert one(1.6, 1.8, [Turn(0.0, 1.0, "A")]).speaker == ""  # 0.6 s: too far
    assert assign_speakers([word(1.6, 1.8)], [Turn(0.0, 1.0, "A")], max_gap_s=1.0)[0].speaker == "A"


def test_without_turns_every_word_is_unknown() -> None:
    assigned = assign_speakers([word(0.0, 0.3), word(0.4, 0.6)], [])
    assert [(w.speaker, w.overlap) for w in assigned] == [("", False), ("", False)]
    assert assign_speakers([], [Turn(0.0, 1.0, "A")]) == []


def test_second_voice_over_a_fifth_of_the_word_and_a_tenth_of_a_second_marks_overlap() -> None:
    turns = [Turn(0.0, 3.0, "A"), Turn(1.2, 2.0, "B")]
    w = one(1.0, 1.5, turns)  # B covers 0.3 s of 0.5 s
    assert (w.speaker, w.overlap) == ("A", True)
    assert one(0.5, 1.0, turns).overlap is False  # B not there yet


def test_a_neighbours_turn_starting_a_moment_early_is_not_overlap() -> None:
    """Turn-change jitter: B's turn begins 0.06 s before A's last word ends."""
    turns = [Turn(0.0, 1.5, "A"), Turn(1.44, 3.0, "B")]
    assert one(1.1, 1.5, turns) == SpeakerWord("word", 1.1, 1.5, 0.9, "A", False)


def test_overlap_needs_a_fifth_of_a_long_word() -> None:
    turns = [Turn(0.0, 5.0, "A"), Turn(2.85, 3.0, "B")]
    assert one(1.0, 3.0, turns).overlap is False  # 0.15 s of a 2 s word
    assert one(2.5, 3.0, turns).overlap is True  # 0.15 s of a 0.5 s word


def test_a_very_short_word_is_overlapped_only_when_covered_whole() -> None:
    assert one(1.0, 1.06, [Turn(0.0, 2.0, "A"), Turn(0.9, 1.1, "B")]).overlap is True
    assert one(1.0, 1.06, [Turn(0.0, 2.0, "A"), Turn(1.03, 1.1, "B")]).overlap is False


def test_a_zero_length_word_is_placed_by_its_time() -> None:
    w = one(1.5, 1.5, [Turn(0.0, 1.0, "A"), Turn(1.2, 2.0, "B")])
    assert (w.speaker, w.start_s, w.end_s) == ("B", 1.5, 1.5)


def test_dominant_speaker_counts_word_time_not_words() -> None:
    words = [
        SpeakerWord("a", 0.0, 0.1, 1.0, "A", False),
        SpeakerWord("b", 0.1, 0.2, 1.0, "A", False),
        SpeakerWord("long", 0.3, 0.8, 1.0, "B", False),
        SpeakerWord("who", 0.9, 2.0, 1.0, "", False),
    ]
    assert dominant_speaker(words) == "B"
    tie = [SpeakerWord("x", 1.0, 1.5, 1.0, "C", False), SpeakerWord("y", 2.0, 2.5, 1.0, "A", False)]
    assert dominant_speaker(tie) == "C"
    assert dominant_speaker(words[3:]) == ""
    assert dominant_speaker([]) == ""


def test_turns_from_annotation_are_in_time_order_with_string_labels() -> None:
    annotation = Annotation(uri="x")
    annotation[Segment(2.0, 3.0), "t1"] = "SPEAKER_01"
    annotation[Segment(0.5, 1.5), "t0"] = "SPEAKER_00"
    annotation[Segment(1.0, 2.5), "t2"] = 7
    assert turns_from_annotation(annotation) == (
        Turn(0.5, 1.5, "SPEAKER_00"),
        Turn(1.0, 2.5, "7"),
        Turn(2.0, 3.0, "SPEAKER_01"),
    )


# --- local speakers to the recording's speakers ---


def test_first_segment_opens_global_speakers_in_label_order() -> None:
    registry = SpeakerRegistry()
    mapping = registry.link({"SPEAKER_01": axis(1), "SPEAKER_00": axis(0)}, {"SPEAKER_00": 3.0})
    assert mapping == {"SPEAKER_00": "SPEAKER_00", "SPEAKER_01": "SPEAKER_01"}
    assert [s.label for s in registry.speakers] == ["SPEAKER_00", "SPEAKER_01"]


def test_same_direction_links_and_orthogonal_opens_a_new_speaker() -> None:
    registry = SpeakerRegistry()
    registry.link({"SPEAKER_00": axis(0)}, {"SPEAKER_00": 5.0})
    # This segment's pyannote calls the known voice SPEAKER_01 and a new one SPEAKER_00.
    mapping = registry.link({"SPEAKER_00": axis(1), "SPEAKER_01": axis(0, 3.0)}, {"SPEAKER_01": 2.0})
    assert mapping == {"SPEAKER_01": "SPEAKER_00", "SPEAKER_00": "SPEAKER_01"}
    assert [s.speech_s for s in registry.speakers] == pytest.approx([7.0, 1e-3])


def test_the_threshold_separates_link_from_new_speaker() -> None:
    registry = SpeakerRegistry(link_threshold=0.5)
    registry.link({"a": axis(0)}, {"a": 1.0})
    assert registry.link({"b": between(0, 1, 0.55)}) == {"b": "SPEAKER_00"}
    assert registry.link({"c": between(0, 2, 0.45)}) == {"c": "SPEAKER_01"}
    assert SpeakerRegistry(link_threshold=0.7, speakers=registry.speakers).link(
        {"d": between(0, 3, 0.6)}
    ) == {"d": "SPEAKER_02"}


def test_two_local_speakers_never_share_a_global_one() -> None:
    """Both are close to SPEAKER_00; the closer keeps it, the other cannot take it too."""
    registry = SpeakerRegistry()
    registry.link({"x": axis(0)}, {"x": 10.0})
    mapping = registry.link({"near": between(0, 1, 0.9), "nearer": between(0, 2, 0.95)})
    assert mapping == {"nearer": "SPEAKER_00", "near": "SPEAKER_01"}


def test_assignment_is_best_overall_not_greedy() -> None:
    """'p' is a little closer to A (0.7) than to B (0.65); 'q' resembles only A (0.6). Greedy
    would give A to 'p' and a new label to 'q'; the assignment links both, each above 0.5."""
    registry = SpeakerRegistry()
    registry.link({"a": axis(0), "b": axis(1)}, {"a": 1.0, "b": 1.0})
    p = axis(0, 0.7) + axis(1, 0.65) + axis(2, float(np.sqrt(1 - 0.7**2 - 0.65**2)))
    q = axis(0, 0.6) + axis(2, 0.8)
    assert registry.link({"p": p, "q": q}) == {"p": "SPEAKER_01", "q": "SPEAKER_00"}


def test_centroid_is_the_speech_weighted_mean_kept_at_unit_length() -> None:
    registry = SpeakerRegistry()
    registry.link({"a": axis(0)}, {"a": 3.0})
    registry.link({"a": between(0, 1, 0.8)}, {"a": 1.0})
    expected = 3.0 * axis(0) + between(0, 1, 0.8)
    (speaker,) = registry.speakers
    np.testing.assert_allclose(speaker.centroid, expected / np.linalg.norm(expected), atol=1e-6)
    assert np.linalg.norm(speaker.centroid) == pytest.approx(1.0)
    assert speaker.speech_s == pytest.approx(4.0)


def test_local_speakers_without_a_usable_embedding_are_unknown() -> None:
    registry = SpeakerRegistry()
    nan = np.full(DIM, np.nan, dtype=np.float32)
    mapping = registry.link({"s0": axis(0), "s1": nan, "s2": np.zeros(DIM)}, {"s0": 2.0, "s3": 0.2})
    assert mapping == {"s0": "SPEAKER_00", "s1": "", "s2": "", "s3": ""}
    assert len(registry.speakers) == 1
    assert registry.link({}, {"s0": 0.1}) == {"s0": ""}


def test_registry_round_trips_through_json() -> None:
    registry = SpeakerRegistry(link_threshold=0.6)
    registry.link({"a": axis(0), "b": between(1, 2, 0.3)}, {"a": 1.5, "b": 2.5})
    stored = json.loads(json.dumps(registry.to_dict()))
    restored = SpeakerRegistry.from_dict(stored, link_threshold=0.6)
    assert restored.to_dict() == registry.to_dict()
    for before, after in zip(registry.speakers, restored.speakers, strict=True):
        assert (before.label, before.speech_s) == (after.label, after.speech_s)
        np.testing.assert_array_equal(before.centroid, after.centroid)
    # The restored registry goes on where the stored one stopped.
    assert restored.link({"c": between(1, 2, 0.3), "d": axis(5)}) == {"c": "SPEAKER_01", "d": "SPEAKER_02"}


def test_an_empty_dict_is_a_recording_without_speakers() -> None:
    assert SpeakerRegistry.from_dict({}).speakers == ()


def test_stored_speakers_of_another_size_or_version_are_refused() -> None:
    registry = SpeakerRegistry()
    registry.link({"a": axis(0)})
    with pytest.raises(ValueError, match="embedding size 256"):
        registry.link({"b": np.ones(256, dtype=np.float32)})
    with pytest.raises(ValueError, match="version"):
        SpeakerRegistry.from_dict({"version": 99, "speakers": []})
