"""WER, cpWER and DER, mostly on the references of pyannote.audio's own sample (13 STM lines of
two speakers, Diane and Sheila; RTTM turns of speaker90 and speaker91)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyannote.core import Annotation, Segment

from services.asr.evaluation import (
    RefSegment,
    annotation_from_turns,
    cp_wer,
    der,
    normalise_text,
    read_rttm,
    read_stm,
    texts_by_speaker,
    wer,
)
from services.asr.speakers import SpeakerWord, Turn, turns_from_annotation
from tests.samples import pyannote_sample


@pytest.fixture(scope="module")
def reference_segments() -> list[RefSegment]:
    return read_stm(pyannote_sample().stm)


@pytest.fixture(scope="module")
def reference_texts(reference_segments: list[RefSegment]) -> dict[str, str]:
    return texts_by_speaker(reference_segments)


@pytest.fixture(scope="module")
def reference_turns() -> Annotation:
    return read_rttm(pyannote_sample().rttm)


# --- reading references ---


def test_read_stm_gives_the_samples_segments(reference_segments: list[RefSegment]) -> None:
    assert len(reference_segments) == 13
    assert reference_segments[0] == RefSegment("Diane", 6.68, 7.16, "Hello?")
    assert reference_segments[-1].text == "Oh, I don't hear that in New Jersey now."
    assert {s.speaker for s in reference_segments} == {"Diane", "Sheila"}


def test_read_stm_skips_comments_and_the_optional_label(tmp_path: Path) -> None:
    stm = tmp_path / "x.stm"
    stm.write_text(
        ";; a comment\n\n"
        "x 1 A 0.0 1.5 <o,f0,male> Hello there\n"
        "x 1 B 1.5 2.0 Oui, c'est ça.\n"
        "x 1 A 2.0 2.5\n",
        encoding="utf-8",
    )
    assert read_stm(stm) == [
        RefSegment("A", 0.0, 1.5, "Hello there"),
        RefSegment("B", 1.5, 2.0, "Oui, c'est ça."),
        RefSegment("A", 2.0, 2.5, ""),
    ]
    stm.write_text("x 1 A 0.0\n")
    with pytest.raises(ValueError, match=r"x.stm:1"):
        read_stm(stm)


def test_read_rttm_gives_the_samples_turns(reference_turns: Annotation) -> None:
    assert reference_turns.uri == "sample"
    assert sorted(reference_turns.labels()) == ["speaker90", "speaker91"]
    turns = turns_from_annotation(reference_turns)
    assert len(turns) == 10
    assert (turns[0].start_s, turns[0].speaker) == (6.69, "speaker90")
    assert turns[0].end_s == pytest.approx(6.69 + 0.43)


def test_read_rttm_with_several_recordings_needs_a_uri(tmp_path: Path) -> None:
    rttm = tmp_path / "two.rttm"
    rttm.write_text(
        "SPEAKER a 1 0.0 1.0 <NA> <NA> s1 <NA> <NA>\nSPEAKER b 1 2.0 0.5 <NA> <NA> s2 <NA> <NA>\n"
    )
    with pytest.raises(ValueError, match="uri="):
        read_rttm(rttm)
    assert turns_from_annotation(read_rttm(rttm, uri="b")) == (Turn(2.0, 2.5, "s2"),)


# --- normalisation and WER ---


@pytest.mark.parametrize(
    ("language", "text", "normalised"),
    [
        ("en", "Hello,  World!  I didn't know — “really”?", "hello world i didn't know really"),
        ("en", "'Quoted' rock 'n' roll, the dogs' bowls", "quoted rock n roll the dogs bowls"),
        ("de", "Grüße aus der Straße! Über-Nacht-Lieferung?", "grüße aus der straße über nacht lieferung"),
        ("es", "¿Qué tal? ¡Mañana llegará, señor!", "qué tal mañana llegará señor"),
        ("fr", "L’appel d'aujourd'hui : « Est-ce que ça va ? »", "l'appel d'aujourd'hui est ce que ça va"),
        ("fr", "Cafe\u0301 ou café, garçon", "café ou café garçon"),  # decomposed é is é
    ],
)
def test_normalise_text(language: str, text: str, normalised: str) -> None:
    assert normalise_text(text, language) == normalised


def test_wer_counts_each_kind_of_error_after_normalisation() -> None:
    result = wer("The cat sat on the mat.", "the Cat sat in the the mat")
    assert (result.substitutions, result.deletions, result.insertions) == (1, 0, 1)
    assert result.reference_words == 6
    assert result.wer == pytest.approx(2 / 6)
    assert wer("Hello, world!", "hello world").wer == 0.0
    assert wer("a b c d", "a d").deletions == 2


def test_wer_of_empty_texts() -> None:
    assert wer("", "").wer == 0.0
    nothing_heard = wer("two words", "")
    assert (nothing_heard.deletions, nothing_heard.wer) == (2, 1.0)
    nothing_said = wer("", "uh huh")
    assert (nothing_said.insertions, nothing_said.wer) == (2, 2.0)


def test_wer_of_the_sample_reference_against_itself_is_zero() -> None:
    text = pyannote_sample().reference_text()
    result = wer(text, text.upper())
    assert (result.wer, result.reference_words) == (0.0, 81)


# --- cpWER ---


def test_cpwer_of_the_reference_against_itself_is_zero(reference_texts: dict[str, str]) -> None:
    result = cp_wer(reference_texts, reference_texts)
    assert (result.cpwer, result.errors, result.reference_words) == (0.0, 0, 81)
    assert result.mapping == {"Diane": "Diane", "Sheila": "Sheila"}


def test_cpwer_does_not_care_what_speakers_are_called(reference_texts: dict[str, str]) -> None:
    renamed = {"SPEAKER_00": reference_texts["Sheila"], "SPEAKER_01": reference_texts["Diane"]}
    result = cp_wer(reference_texts, renamed)
    assert result.cpwer == 0.0
    assert result.mapping == {"Diane": "SPEAKER_01", "Sheila": "SPEAKER_00"}


def test_cpwer_with_every_word_given_to_one_speaker_exceeds_plain_wer(
    reference_segments: list[RefSegment], reference_texts: dict[str, str]
) -> None:
    """The words are all right, so WER is 0; Sheila's 35 words are missing from her speaker and
    inserted into Diane's: 70 errors in 81 words."""
    everything = " ".join(s.text for s in reference_segments)
    assert wer(pyannote_sample().reference_text(), everything).wer == 0.0
    result = cp_wer(reference_texts, {"SPEAKER_00": everything})
    assert (result.deletions, result.insertions, result.substitutions) == (35, 35, 0)
    assert result.cpwer == pytest.approx(70 / 81)
    assert result.mapping == {"Diane": "SPEAKER_00"}


def test_cpwer_counts_an_extra_hypothesis_speaker_as_insertions(reference_texts: dict[str, str]) -> None:
    result = cp_wer(reference_texts, {**reference_texts, "ghost": "uh huh"})
    assert (result.insertions, result.errors) == (2, 2)
    assert "ghost" not in result.mapping.values()


def test_cpwer_keeps_words_of_no_known_speaker_as_a_speaker_of_their_own() -> None:
    words = [
        SpeakerWord(" Hello", 0.0, 0.4, 0.9, "SPEAKER_00", False),
        SpeakerWord(" there", 0.5, 0.8, 0.9, "", False),
        SpeakerWord(" Hi!", 1.0, 1.3, 0.9, "SPEAKER_01", False),
    ]
    hypothesis = texts_by_speaker(words)
    assert hypothesis == {"SPEAKER_00": "Hello", "": "there", "SPEAKER_01": "Hi!"}
    result = cp_wer({"A": "hello there", "B": "hi"}, hypothesis)
    assert (result.deletions, result.insertions, result.substitutions) == (1, 1, 0)
    assert result.mapping == {"A": "SPEAKER_00", "B": "SPEAKER_01"}


# --- DER ---


def test_der_of_the_reference_against_itself_is_zero(reference_turns: Annotation) -> None:
    result = der(reference_turns, reference_turns, collar_s=0.0)
    assert result.der == 0.0
    assert result.total_s == pytest.approx(24.35)  # the RTTM's turn durations, overlap counted twice


def test_der_maps_labels_before_scoring(reference_turns: Annotation) -> None:
    swapped = reference_turns.rename_labels({"speaker90": "SPEAKER_01", "speaker91": "SPEAKER_00"})
    assert der(reference_turns, swapped).der == 0.0


def test_der_components(reference_turns: Annotation) -> None:
    """Sheila's 6.72 s turn from 21.78 s: dropped, it is missed speech; given to Diane, confusion
    (also where Diane's own last turn overlaps it: two voices there, the hypothesis has her twice)."""
    turns = turns_from_annotation(reference_turns)
    long_turn = next(t for t in turns if t.start_s == 21.78)
    assert long_turn.speaker == "speaker91" and long_turn.end_s == pytest.approx(28.5)
    without = [t for t in turns if t != long_turn]
    assert len(without) == len(turns) - 1
    missed = der(reference_turns, annotation_from_turns(without), collar_s=0.0)
    assert (missed.missed_s, missed.false_alarm_s, missed.confusion_s) == pytest.approx((6.72, 0.0, 0.0))
    assert missed.der == pytest.approx(6.72 / 24.35)

    confused = [Turn(t.start_s, t.end_s, "speaker90") if t == long_turn else t for t in turns]
    result = der(reference_turns, annotation_from_turns(confused), collar_s=0.0)
    assert (result.missed_s, result.false_alarm_s, result.confusion_s) == pytest.approx((0.0, 0.0, 6.72))


def test_the_collar_is_forgiven_on_each_side_of_a_boundary() -> None:
    """A boundary 0.2 s late is inside a 0.25 s collar (md-eval's meaning); with pyannote's
    own meaning of ``collar`` (the whole width) it would count 0.075 s."""
    reference = annotation_from_turns([Turn(0.0, 5.0, "A"), Turn(5.0, 10.0, "B")])
    late = annotation_from_turns([Turn(0.0, 5.2, "A"), Turn(5.2, 10.0, "B")])
    assert der(reference, late, collar_s=0.25).der == 0.0
    assert der(reference, late, collar_s=0.0).confusion_s == pytest.approx(0.2)
    assert der(reference, late, collar_s=0.125).confusion_s == pytest.approx(0.075)


def test_skip_overlap_leaves_overlapped_reference_speech_out(reference_turns: Annotation) -> None:
    everything = der(reference_turns, reference_turns, collar_s=0.0)
    without_overlap = der(reference_turns, reference_turns, collar_s=0.0, skip_overlap=True)
    assert without_overlap.der == 0.0
    # Six places where both talk, 1.89 s in all, each second counted once per speaker.
    overlap_s = reference_turns.get_overlap().duration()
    assert overlap_s == pytest.approx(1.89)
    assert everything.total_s - without_overlap.total_s == pytest.approx(2 * overlap_s)


def test_annotation_from_turns_keeps_overlapping_turns() -> None:
    annotation = annotation_from_turns([Turn(0.0, 2.0, "A"), Turn(1.0, 3.0, "B"), Turn(1.0, 3.0, "C")], "u")
    assert annotation.uri == "u"
    assert annotation.label_duration("B") == annotation.label_duration("C") == 2.0
    assert annotation.get_timeline().extent() == Segment(0.0, 3.0)
