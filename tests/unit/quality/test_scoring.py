"""Draft-versus-correction scores with real jiwer, on small examples counted by hand."""

from __future__ import annotations

import pytest

from protos import common_pb2, transcripts_pb2
from services.quality.scoring import (
    Change,
    agreement_wer,
    gold_accuracy,
    score_correction,
    score_segment,
    top_confusions,
    wer_report,
    wer_rows,
)
from shared.text import NORMALISATION, normalise_text, primary_language, scored_per_character, wer

# --- normalisation per language ---


@pytest.mark.parametrize(
    ("language", "text", "normalised"),
    [
        ("ja", "今日は、いい天気ですね。", "今 日 は い い 天 気 で す ね"),
        ("ja-JP", "ＡＢ１ ｶﾞｷﾞ", "a b 1 ガ ギ"),  # NFKC folds full- and half-width forms
        ("zh-Hans", "你好，世界！ 2024年", "你 好 世 界 2 0 2 4 年"),
        ("th", "ที่นี่", "ที่ นี่"),  # a letter keeps its vowel and tone marks
        ("en", "Hello, World!", "hello world"),  # unchanged for languages written with spaces
        ("", "ＡＢ", "ａｂ"),  # NFC only outside Chinese and Japanese, as before
    ],
)
def test_normalise_text_per_language(language: str, text: str, normalised: str) -> None:
    assert normalise_text(text, language) == normalised


def test_language_tags() -> None:
    assert primary_language("zh-Hant-TW") == "zh"
    assert primary_language("ja_JP") == "ja"
    assert scored_per_character("KM") and scored_per_character("yue")
    assert not scored_per_character("en-US") and not scored_per_character("")
    assert "per character" in NORMALISATION


def test_shared_wer_counts_characters_for_chinese() -> None:
    result = wer("我们明天见", "我明天见", "zh")
    assert (result.deletions, result.reference_words, result.wer) == pytest.approx((1, 5, 1 / 5))


# --- one segment ---


def test_substitution_with_its_words_and_character_error_rate() -> None:
    score = score_segment("the cat sat in the mat", "The cat sat on the mat.", "en")
    assert (score.reference_words, score.hits, score.substitutions) == (6, 5, 1)
    assert (score.insertions, score.deletions) == (0, 0)
    assert score.changes == (Change("substitution", "in", "on"),)
    assert score.wer == pytest.approx(1 / 6)
    # "the cat sat on the mat" is 22 characters, spaces included; one of them differs
    assert (score.reference_characters, score.character_errors) == (22, 1)
    assert score.cer == pytest.approx(1 / 22)


def test_insertions_are_draft_words_and_deletions_corrected_words() -> None:
    inserted = score_segment("uh the cat", "the cat")
    assert inserted.changes == (Change("insertion", "uh", ""),)
    assert (inserted.insertions, inserted.wer) == (1, 0.5)
    deleted = score_segment("a d", "a b c d")
    assert deleted.changes == (Change("deletion", "", "b"), Change("deletion", "", "c"))
    assert (deleted.deletions, deleted.hits, deleted.wer) == (2, 2, 0.5)
    assert (deleted.reference_characters, deleted.character_errors) == (7, 4)


def test_empty_sides() -> None:
    nothing_heard = score_segment("", "two words")
    assert (nothing_heard.deletions, nothing_heard.wer, nothing_heard.cer) == (2, 1.0, 1.0)
    nothing_said = score_segment("uh huh", "")
    assert (nothing_said.insertions, nothing_said.reference_words, nothing_said.wer) == (2, 0, 2.0)
    assert nothing_said.changes == (Change("insertion", "uh", ""), Change("insertion", "huh", ""))
    assert score_segment("", "").wer == 0.0


def test_japanese_is_scored_per_character() -> None:
    score = score_segment("今日わいい天気", "今日はいい天気です", "ja")
    assert (score.reference_words, score.substitutions, score.deletions) == (9, 1, 2)
    assert score.changes == (
        Change("substitution", "わ", "は"),
        Change("deletion", "", "で"),
        Change("deletion", "", "す"),
    )
    assert score.wer == score.cer == pytest.approx(3 / 9)
    # where the draft put spaces is no error in a language written without them
    assert score_segment("今日 は いい 天気 です", "今日はいい天気です。", "ja").wer == 0.0


def test_score_of_a_correction_message_takes_its_language_from_the_segment_or_context() -> None:
    message = transcripts_pb2.CorrectedTranscript(
        context=common_pb2.RecordingContext(language_hint="zh"),
        segment=common_pb2.TranscriptSegment(text="我们明天见"),
        draft=common_pb2.TranscriptSegment(text="我明天见"),
    )
    score = score_correction(message)
    assert (score.language, score.deletions, score.reference_words) == ("zh", 1, 5)


# --- many segments ---


def test_rows_are_word_weighted_per_group() -> None:
    sub = score_segment("the cat sat in the mat", "the cat sat on the mat", "en")  # 1 of 6
    dels = score_segment("a d", "a b c d", "en")  # 2 of 4
    ja = score_segment("今日わ", "今日は", "ja")  # 1 of 3
    rows = wer_rows([("en", sub), ("ja", ja), ("en", dels)])
    assert [row.group for row in rows] == ["en", "ja"]
    en = rows[0]
    assert en.segments == 2
    assert en.wer == pytest.approx(3 / 10)  # not the mean of 1/6 and 1/2
    assert en.cer == pytest.approx((1 + 4) / (22 + 7))
    assert (en.substitutions, en.insertions, en.deletions) == (1, 0, 2)
    assert rows[1].wer == pytest.approx(1 / 3)
    report = wer_report([("linguist-a", sub)])
    assert report.normalisation == NORMALISATION
    assert [(row.group, row.segments) for row in report.rows] == [("linguist-a", 1)]


def test_top_confusions_counts_pairs_and_orders_by_frequency() -> None:
    scored = [
        score_segment("their dog", "there dog"),
        score_segment("their cat", "there cat"),
        score_segment("a cat", "the cat"),
        score_segment("uh the cat", "the cat"),
        score_segment("the", "the cat"),
    ]
    confusions = top_confusions(scored, n=5)
    assert confusions.substitutions == [(("their", "there"), 2), (("a", "the"), 1)]
    assert confusions.insertions == [("uh", 1)]
    assert confusions.deletions == [("cat", 1)]
    assert top_confusions(scored, n=1).substitutions == [(("their", "there"), 2)]


def test_agreement_is_the_mean_of_both_directions() -> None:
    assert agreement_wer("a b c d", "a b c") == pytest.approx((1 / 4 + 1 / 3) / 2)
    assert agreement_wer("a b c", "a b c d") == agreement_wer("a b c d", "a b c")
    assert agreement_wer("Hello, world!", "hello world", "en") == 0.0


def test_gold_accuracy() -> None:
    assert gold_accuracy("a b c d", "a b x d") == pytest.approx(0.75)
    assert gold_accuracy("a b", "a b c d e f") == 0.0  # four insertions: WER 2, floored
    assert gold_accuracy("今日は", "今日は", "ja") == 1.0
