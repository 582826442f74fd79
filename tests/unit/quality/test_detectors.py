"""The quality gate's hallucination detectors, on drafts built the way ASR builds them.

Every detector gets a case where it fires (its evidence naming the culprit) and a clean,
real-looking draft where it does not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from protos import common_pb2, transcripts_pb2
from services.quality.detectors import (
    DETECTOR_NAMES,
    DetectorConfig,
    known_phrase,
    language_mismatch,
    low_avg_logprob,
    low_word_probability,
    no_speech_with_text,
    repetition_loop,
    run_detectors,
    speaking_rate,
    text_without_speech,
    timestamps_invalid,
)
from services.quality.phrases import PhraseFileError, find_phrases, load_phrases, match_key

CONFIG = DetectorConfig()
PHRASES = load_phrases()
CLEAN_TEXT = "Thanks for calling Acme support, my name is Dana. How can I help you today?"

Timed = tuple[str, float, float]


def spoken(text: str, start_s: float, step_s: float = 0.35) -> list[Timed]:
    """Whisper-like words at a conversational pace (~2.9 words/s): 0.3 s each, 0.05 s apart."""
    return [(w, start_s + i * step_s, start_s + i * step_s + 0.3) for i, w in enumerate(text.split())]


def make_draft(
    words: Sequence[Timed] = (),
    *,
    text: str | None = None,
    language: str = "en",
    start_s: float = 0.0,
    end_s: float = 10.0,
    vad: Iterable[tuple[float, float]] = ((0.0, 10.0),),
    turns: Iterable[tuple[float, float]] = (),
    diarized: bool = False,
    duration_s: float = 0.0,
    avg_logprob: float = -0.25,
    no_speech_prob: float = 0.02,
    compression_ratio: float = 1.4,
    temperature: float = 0.0,
) -> transcripts_pb2.DraftTranscript:
    """A draft as ASR publishes it: word texts with Whisper's leading space, recording times."""
    return transcripts_pb2.DraftTranscript(
        segment=common_pb2.TranscriptSegment(
            segment_id="rec-1:000001",
            start_s=start_s,
            end_s=end_s,
            text=" ".join(w for w, _, _ in words) if text is None else text,
            words=[
                common_pb2.Word(text=f" {w}", start_s=s, end_s=e, probability=0.9, speaker="SPEAKER_00")
                for w, s, e in words
            ],
            language=language,
            avg_logprob=avg_logprob,
            no_speech_prob=no_speech_prob,
            compression_ratio=compression_ratio,
            temperature=temperature,
        ),
        audio=common_pb2.AudioRef(duration_s=duration_s),
        voice_activity=[common_pb2.SpeechSpan(start_s=s, end_s=e) for s, e in vad],
        speaker_turns=[common_pb2.SpeechSpan(start_s=s, end_s=e, speaker="SPEAKER_00") for s, e in turns],
        diarized=diarized,
    )


def clean_draft() -> transcripts_pb2.DraftTranscript:
    return make_draft(spoken(CLEAN_TEXT, 0.5), vad=[(0.3, 6.0)], end_s=6.5, duration_s=6.5)


# --- all of them together ---


def test_a_clean_draft_fires_nothing_and_every_result_explains_itself() -> None:
    results = run_detectors(clean_draft(), CONFIG, PHRASES, "en")
    assert [r.name for r in results] == list(DETECTOR_NAMES)
    assert [r.name for r in results if r.fired] == []
    assert all(r.evidence for r in results)


def test_a_config_that_would_divide_by_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="min_loop_repeats must be > 0"):
        DetectorConfig(min_loop_repeats=0)


def test_an_empty_draft_of_silence_fires_nothing() -> None:
    results = run_detectors(make_draft(vad=[], end_s=3.0), CONFIG, PHRASES, "en")
    assert [r.name for r in results] == list(DETECTOR_NAMES)
    assert not any(r.fired for r in results)


def test_thanks_for_watching_on_silence_is_caught_several_ways() -> None:
    draft = make_draft(spoken("Thanks for watching!", 1.0), vad=[], end_s=3.0, no_speech_prob=0.85)
    fired = {r.name for r in run_detectors(draft, CONFIG, PHRASES, "en") if r.fired}
    assert fired == {"text_without_speech", "no_speech_with_text", "known_phrase"}


# --- text_without_speech ---


def test_text_without_speech_names_the_words_said_in_silence() -> None:
    words = spoken(CLEAN_TEXT, 0.5) + spoken("Thanks for watching", 8.0)
    result = text_without_speech(make_draft(words, vad=[(0.3, 6.0)]), CONFIG)
    assert result.fired
    assert "'Thanks' (8.00-8.30 s)" in result.evidence
    assert "'watching' (8.70-9.00 s)" in result.evidence
    assert result.score == pytest.approx(0.9 / 5.4)  # 3 of 18 words of 0.3 s


def test_text_without_speech_does_not_fire_on_a_clean_draft() -> None:
    result = text_without_speech(clean_draft(), CONFIG)
    assert not result.fired
    assert result.score == 0.0


def test_text_without_speech_tolerates_words_a_little_off_the_speech() -> None:
    draft = make_draft(spoken("yes I can", 0.0), vad=[(0.25, 0.9)])  # words 0.0-1.0 s
    assert not text_without_speech(draft, CONFIG).fired


def test_one_stretched_word_is_a_timing_slip_not_a_hallucination() -> None:
    words = [*spoken(CLEAN_TEXT, 0.5)[:-1], ("today?", 5.4, 6.8)]  # the last word runs into the pause
    result = text_without_speech(make_draft(words, vad=[(0.3, 5.8)]), CONFIG)
    assert not result.fired
    assert result.score > 0.0


def test_words_without_any_voice_activity_are_the_classic_hallucination() -> None:
    result = text_without_speech(make_draft(spoken("you", 0.2), vad=[]), CONFIG)
    assert result.fired
    assert result.score == 1.0
    assert "no speech at all" in result.evidence and "'you'" in result.evidence


def test_no_voice_activity_and_no_words_is_silence_rightly_transcribed() -> None:
    result = text_without_speech(make_draft(vad=[]), CONFIG)
    assert not result.fired


def test_a_speaker_turn_counts_as_speech_only_when_diarized() -> None:
    words = spoken(CLEAN_TEXT, 0.5)
    turns = [(0.4, 6.0)]
    assert not text_without_speech(make_draft(words, vad=[], turns=turns, diarized=True), CONFIG).fired
    diarized = make_draft(words, vad=[(0.3, 3.0)], turns=turns, diarized=True)
    assert not text_without_speech(diarized, CONFIG).fired
    not_diarized = text_without_speech(make_draft(words, vad=[(0.3, 3.0)], turns=turns), CONFIG)
    assert not_diarized.fired
    assert "diarization" not in not_diarized.evidence


# --- repetition_loop ---


def test_a_phrase_repeated_back_to_back_is_a_loop() -> None:
    text = "I will call you back. " + "Thank you. " * 6
    result = repetition_loop(make_draft(text=text), CONFIG)
    assert result.fired
    assert result.score >= result.threshold == 1.0
    assert "'thank you' 6 times in a row" in result.evidence


def test_a_high_compression_ratio_alone_fires() -> None:
    result = repetition_loop(make_draft(spoken(CLEAN_TEXT, 0.5), compression_ratio=2.9), CONFIG)
    assert result.fired
    assert "fired by compression ratio" in result.evidence
    assert "2.90 (limit 2.4)" in result.evidence


def test_one_phrase_making_up_most_of_the_text_fires_even_when_not_adjacent() -> None:
    text = "I'm sorry. I'm sorry, sir. I'm sorry. Okay, I'm sorry."
    result = repetition_loop(make_draft(text=text), CONFIG)
    assert result.fired
    assert '"i\'m sorry" makes up 80% of the words (4 times' in result.evidence


@pytest.mark.parametrize(
    "text",
    [CLEAN_TEXT, "No, no, no, that is not what I said.", "Very, very, very good, thank you."],
)
def test_ordinary_repetition_in_speech_is_not_a_loop(text: str) -> None:
    result = repetition_loop(make_draft(text=text), CONFIG)
    assert not result.fired
    assert "no rule reached its limit" in result.evidence


def test_a_loop_in_japanese_is_counted_in_characters() -> None:
    result = repetition_loop(make_draft(text="ご視聴ありがとうございました。" * 3, language="ja"), CONFIG)
    assert result.fired
    assert "3 times in a row (42 of 42 characters" in result.evidence


# --- no_speech_with_text, low_avg_logprob ---


def test_text_the_model_itself_thought_silent() -> None:
    result = no_speech_with_text(make_draft(spoken("okay", 1.0), no_speech_prob=0.75), CONFIG)
    assert result.fired
    assert result.score == pytest.approx(0.75)
    assert result.threshold == pytest.approx(0.6)
    assert "'okay'" in result.evidence


def test_a_low_no_speech_probability_or_no_text_does_not_fire() -> None:
    assert not no_speech_with_text(clean_draft(), CONFIG).fired
    assert not no_speech_with_text(make_draft(no_speech_prob=0.95), CONFIG).fired


def test_an_unsure_decode_is_flagged() -> None:
    result = low_avg_logprob(make_draft(spoken("the quarterly figures", 1.0), avg_logprob=-1.4), CONFIG)
    assert result.fired
    assert result.score == pytest.approx(-1.4)
    assert "-1.40 is below the limit -1.0" in result.evidence


def test_a_sure_decode_or_no_text_is_not_flagged() -> None:
    assert not low_avg_logprob(clean_draft(), CONFIG).fired
    assert not low_avg_logprob(make_draft(avg_logprob=-3.0), CONFIG).fired


# --- known_phrase ---


@pytest.mark.parametrize(
    ("text", "language", "phrase"),
    [
        ("So that was it. Thanks for watching!", "en", "Thanks for watching!"),
        ("Untertitel im Auftrag des ZDF für funk, 2017", "de", "Untertitel im Auftrag des ZDF"),
        ("字幕由 Amara.org 社区提供", "zh", "字幕由Amara.org社区提供"),  # spaced differently
        ("Sous-titres réalisés par la communauté d'Amara.org", "fr", "Sous-titres réalisés"),
        ("ご視聴ありがとうございました", "en", "ご視聴ありがとうございました"),  # another language's list
    ],
)
def test_known_hallucinations_are_named(text: str, language: str, phrase: str) -> None:
    result = known_phrase(make_draft(text=text, language=language), CONFIG, PHRASES, language)
    assert result.fired
    assert result.score == 1.0
    assert phrase in result.evidence


def test_a_clean_text_holds_no_known_phrase() -> None:
    result = known_phrase(clean_draft(), CONFIG, PHRASES, "en")
    assert not result.fired
    assert result.evidence.startswith("no known hallucination")


def test_a_whole_segment_phrase_fires_only_when_it_is_the_segment() -> None:
    assert known_phrase(make_draft(text="You."), CONFIG, PHRASES, "en").fired
    partial = known_phrase(make_draft(text="Thank you, see you tomorrow."), CONFIG, PHRASES, "en")
    assert not partial.fired
    assert "closest: 'you'" in partial.evidence and "27% of the text (limit 80%)" in partial.evidence
    # A whole-segment phrase of another language's list is not checked at all.
    assert not known_phrase(make_draft(text="You.", language="de"), CONFIG, PHRASES, "de").fired


def test_phrase_matching_ignores_case_punctuation_and_spaces() -> None:
    assert match_key("  Thanks, for WATCHING!! ") == match_key("thanks for watching")
    assert match_key("ＡＢ") == "ab"
    [match] = find_phrases("Thanks for watching. Thanks for watching.", PHRASES["en"])
    assert (match.phrase.text, match.occurrences, match.coverage) == ("Thanks for watching!", 2, 1.0)


def test_the_shipped_phrase_file_covers_the_main_languages() -> None:
    assert {"*", "en", "de", "es", "fr", "it", "pt", "nl", "ru", "ja", "zh", "ko", "ar"} <= set(PHRASES)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("en: [Thanks for watching]\nno: [Takk for at du så på]\n", "key False"),
        ("en:\n  - Thanks for watching\n  - 42\n", "en[1]: expected a phrase (text), got 42"),
        ("en:\n  - {phrase: you, hole: true}\n", "en[0]: expected {phrase: <text>, whole: true|false}"),
        ("en:\n  - {phrase: you, whole: maybe}\n", "en[0]: 'whole' must be true or false"),
        ("en:\n  - '!!!'\n", "en[0]: '!!!' has no letters or digits left"),
        (
            "en:\n  - Thanks for watching!\n  - thanks for watching\n",
            "en[1]: 'thanks for watching' repeats en[0]",
        ),
        ("en: Thanks for watching\n", "en: expected a non-empty list"),
        ("- Thanks for watching\n", "top level: expected a mapping"),
        ("en: [unclosed\n", "file: cannot be read as YAML"),
    ],
)
def test_a_bad_phrase_file_is_refused_naming_the_file_and_the_entry(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "phrases.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PhraseFileError) as caught:
        load_phrases(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)
    assert str(caught.value).startswith("Q001: ")


# --- speaking_rate ---


def test_a_sentence_squeezed_into_a_second_and_a_half_is_too_fast() -> None:
    words = spoken(CLEAN_TEXT, 1.0, step_s=0.1)  # 15 words in 1.7 s
    result = speaking_rate(make_draft(words, vad=[(1.1, 2.6)]), CONFIG)
    assert result.fired
    assert result.score == pytest.approx(10.0)  # over the 1.5 s of speech, not the 1.7 s span
    assert "15 words over 1.50 s of VAD speech" in result.evidence


def test_a_very_long_text_in_a_very_short_span_is_judged_over_a_second() -> None:
    words = spoken("one two three four five six seven eight", 2.0, step_s=0.02)
    result = speaking_rate(make_draft(words, vad=[]), CONFIG)
    assert result.fired
    assert result.score == pytest.approx(8.0)  # a lower bound: 8 words over at least 1 s
    assert "too short to measure" in result.evidence


def test_conversational_speech_is_a_plausible_rate() -> None:
    result = speaking_rate(clean_draft(), CONFIG)
    assert not result.fired
    assert 2.0 < result.score < 4.0


def test_a_short_word_alone_is_not_a_fast_speaker() -> None:
    result = speaking_rate(make_draft(spoken("yes", 1.0)), CONFIG)
    assert not result.fired
    assert "too short to measure" in result.evidence


def test_chinese_is_measured_in_characters() -> None:
    text = "今天我们讨论一下第三季度的销售数据和明年的市场计划还有新产品的发布时间安排"
    fast = make_draft([(c, 1.0 + i * 0.05, 1.05 + i * 0.05) for i, c in enumerate(text)], language="zh")
    result = speaking_rate(fast, CONFIG)
    assert result.fired
    assert result.threshold == CONFIG.max_han_kana_chars_per_s
    assert "characters/s" in result.evidence
    calm = make_draft([(c, 1.0 + i * 0.2, 1.2 + i * 0.2) for i, c in enumerate(text)], language="zh")
    assert not speaking_rate(calm, CONFIG).fired  # 5 characters a second


def test_thai_has_its_own_character_limit() -> None:
    result = speaking_rate(make_draft([("สวัสดีครับ", 1.0, 2.0)], language="th"), CONFIG)
    assert result.threshold == CONFIG.max_brahmic_chars_per_s
    assert not result.fired


def test_no_words_no_rate() -> None:
    assert not speaking_rate(make_draft(), CONFIG).fired


# --- language_mismatch ---


def test_a_segment_labelled_with_another_language_than_the_recording() -> None:
    result = language_mismatch(make_draft(text="Guten Tag, wie geht es Ihnen?", language="de"), CONFIG, "en")
    assert result.fired
    assert "segment language 'de' differs from the recording's 'en'" in result.evidence


def test_letters_in_the_wrong_script_for_the_language() -> None:
    result = language_mismatch(make_draft(text="Продолжение следует...", language="en"), CONFIG, "en")
    assert result.fired
    assert result.score == 1.0
    assert "not Latin" in result.evidence and "Cyrillic 18" in result.evidence


def test_japanese_text_in_an_english_segment() -> None:
    result = language_mismatch(make_draft(text="ご視聴ありがとうございました", language="en"), CONFIG, "")
    assert result.fired
    assert "Hiragana 12, Han 2" in result.evidence


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        (CLEAN_TEXT, "en", "en"),
        (CLEAN_TEXT, "en-US", "en"),  # the same primary language
        ("今日はいい天気ですね、カタカナもＯＫ", "ja", "ja"),  # Han, kana and a Latin loan
        ("Здравствуйте, я звоню насчёт подписки Microsoft Teams", "ru", "ru"),  # a brand in Latin
        ("OK", "ru", "ru"),  # too few letters to judge
        ("Some text", "en", ""),  # recording's language unknown: only the script is judged
        ("Kitu chochote", "xx", ""),  # a language the script table does not know: not judged
    ],
)
def test_text_consistent_with_its_language_does_not_fire(text: str, language: str, expected: str) -> None:
    assert not language_mismatch(make_draft(text=text, language=language), CONFIG, expected).fired


def test_an_unknown_language_says_it_was_not_judged() -> None:
    result = language_mismatch(make_draft(text="Kitu chochote", language="xx"), CONFIG, "")
    assert "not judged" in result.evidence


# --- timestamps_invalid ---


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        ([("hello", 1.0, 1.3), ("there", 9.8, 10.6)], "word 1 'there' (9.80-10.60 s) ends after the segment"),
        (
            [("hello", 1.0, 1.3), ("there", 0.5, 0.8)],
            "word 1 'there' (0.50-0.80 s) starts before the previous",
        ),
        ([("hello", 1.0, 0.7)], "word 0 'hello' (1.00-0.70 s) ends before it starts"),
        ([("hello", -0.5, 0.3)], "word 0 'hello' (-0.50-0.30 s) starts before the segment"),
    ],
)
def test_impossible_word_times_are_named(words: list[Timed], problem: str) -> None:
    result = timestamps_invalid(make_draft(words), CONFIG)
    assert result.fired
    assert problem in result.evidence


def test_words_past_the_end_of_the_audio() -> None:
    draft = make_draft(
        [("hello", 20.5, 20.8), ("there", 21.0, 21.9)], start_s=20.0, end_s=30.0, duration_s=1.5
    )
    result = timestamps_invalid(draft, CONFIG)
    assert result.fired
    assert result.score == 1.0  # one word
    assert "'there' (21.00-21.90 s) ends after the audio (21.50 s" in result.evidence


def test_word_times_in_order_within_the_segment_are_valid() -> None:
    result = timestamps_invalid(clean_draft(), CONFIG)
    assert not result.fired
    assert result.score == 0.0
    # A word a few frames past the segment's end is within the tolerance.
    assert not timestamps_invalid(make_draft([("bye", 9.8, 10.1)]), CONFIG).fired
    assert not timestamps_invalid(make_draft(), CONFIG).fired


# --- low_word_probability ---


def test_low_word_probability_fires_when_the_typical_word_is_a_guess() -> None:
    draft = make_draft(spoken("Okay. Okay. Okay.", 1.0))
    for word, probability in zip(draft.segment.words, (0.12, 0.2, 0.6), strict=True):
        word.probability = probability
    result = low_word_probability(draft, CONFIG)
    assert result.fired and result.score == pytest.approx(0.2) and "'Okay.' 0.12" in result.evidence


def test_low_word_probability_stays_quiet_on_heard_words_and_single_words() -> None:
    assert not low_word_probability(clean_draft(), CONFIG).fired
    single = make_draft(spoken("Hello.", 1.0))
    single.segment.words[0].probability = 0.05
    result = low_word_probability(single, CONFIG)
    assert not result.fired and "too few" in result.evidence
