"""Hallucination detectors: named, auditable checks of one draft segment.

Each detector is a plain function of the draft that always returns a ``DetectorResult`` (fired
or not) with the evidence a QA lead needs to see why: which words, which span, which rule. No
Kafka, no gRPC, no database; every threshold lives in ``DetectorConfig``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from protos import common_pb2, transcripts_pb2
from services.quality.phrases import ANY_LANGUAGE, PhraseBook, PhraseMatch, find_phrases
from services.quality.repetition import Repeat, longest_loop, most_repeated
from services.quality.scripts import expected_scripts, letter_scripts
from services.quality.speech import draft_text, merge_spans, overlap_s, quote, quote_words, speech_spans
from shared.text import normalise_text, primary_language, scored_per_character

TEXT_WITHOUT_SPEECH = "text_without_speech"
REPETITION_LOOP = "repetition_loop"
NO_SPEECH_WITH_TEXT = "no_speech_with_text"
LOW_AVG_LOGPROB = "low_avg_logprob"
LOW_WORD_PROBABILITY = "low_word_probability"
KNOWN_PHRASE = "known_phrase"
SPEAKING_RATE = "speaking_rate"
LANGUAGE_MISMATCH = "language_mismatch"
TIMESTAMPS_INVALID = "timestamps_invalid"
# The order ``run_detectors`` returns them in: a verdict always lists all of them, in this order.
DETECTOR_NAMES = (
    TEXT_WITHOUT_SPEECH,
    REPETITION_LOOP,
    NO_SPEECH_WITH_TEXT,
    LOW_AVG_LOGPROB,
    LOW_WORD_PROBABILITY,
    KNOWN_PHRASE,
    SPEAKING_RATE,
    LANGUAGE_MISMATCH,
    TIMESTAMPS_INVALID,
)

_HAN_KANA_LANGUAGES = frozenset({"zh", "yue", "ja"})  # a character is about one syllable


_DIVISORS = (
    "min_loop_repeats",
    "min_loop_words",
    "min_loop_chars",
    "max_repeated_share",
    "compression_ratio_threshold",
    "min_rate_span_s",
)


@dataclass(frozen=True)
class DetectorConfig:
    # text_without_speech. Word times from Whisper's cross-attention alignment drift by a few
    # hundred ms at pauses; Silero's spans are already padded (faster-whisper: speech_pad_ms 400).
    speech_tolerance_s: float = 0.3
    max_outside_speech_share: float = 0.2  # of the word time
    # However long the segment: one word can be a misaligned time, two are text nobody said.
    min_words_outside_speech: int = 2
    # repetition_loop. Back-to-back repeats of a 1-4 word phrase: "no, no, no" is speech, eight
    # "no"s or "thank you" four times over is a decoder loop.
    max_ngram_words: int = 4
    min_loop_repeats: int = 3
    min_loop_words: int = 8
    # The same, counted in characters for languages written without spaces (~2-3 characters a word).
    max_ngram_chars: int = 16
    min_loop_chars: int = 24
    max_repeated_share: float = 0.6  # one phrase making up most of the text, repeats not adjacent
    compression_ratio_threshold: float = 2.4  # faster-whisper's default: above it, it re-decodes hotter
    # no_speech_with_text, low_avg_logprob: faster-whisper's defaults (no_speech_threshold,
    # log_prob_threshold), the values its own silence and fallback rules use.
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    # low_word_probability: Whisper gives words it heard 0.8-0.99; when the typical (median) word
    # of a segment is below this, most of the text was guessed, however sure the decoder was.
    min_median_word_probability: float = 0.3
    min_words_for_median: int = 2
    # known_phrase: a {whole: true} phrase must make up this share of the segment's characters.
    min_phrase_coverage: float = 0.8
    # speaking_rate. Conversation runs at ~2-3 words/s (150-180 words a minute) and the fastest
    # speakers reach ~5-6; Mandarin and Japanese at ~4-8 syllables (about characters) a second;
    # Thai, Lao, Burmese and Khmer at ~6-7 syllables of 2-3 characters (a letter with its marks).
    min_rate_span_s: float = 1.0  # below this a rate is only a lower bound (taken over 1 s)
    max_words_per_s: float = 7.0
    max_han_kana_chars_per_s: float = 12.0
    max_brahmic_chars_per_s: float = 25.0
    # language_mismatch: "most letters" in a script the language is not written in; short texts
    # are not judged ("OK" in a Russian segment is code-switching, not a hallucination).
    max_foreign_script_share: float = 0.5
    min_script_letters: int = 8
    # timestamps_invalid: ten of Whisper's 20 ms timestamp steps.
    timestamp_tolerance_s: float = 0.2

    def __post_init__(self) -> None:
        """The limits the detectors divide by must be positive."""
        for name in _DIVISORS:
            if not getattr(self, name) > 0:
                raise ValueError(f"DetectorConfig.{name} must be > 0, not {getattr(self, name)!r}")


def _result(
    name: str, fired: bool, score: float, threshold: float, evidence: str
) -> transcripts_pb2.DetectorResult:
    return transcripts_pb2.DetectorResult(
        name=name, fired=fired, score=score, threshold=threshold, evidence=evidence
    )


def text_without_speech(
    draft: transcripts_pb2.DraftTranscript, config: DetectorConfig
) -> transcripts_pb2.DetectorResult:
    """Whisper's signature hallucination: fluent text on silence or noise. The audio's own
    evidence (Silero VAD, and the diarizer's turns when diarized) says where somebody spoke;
    text anywhere else was invented, not heard. Score: share of the word time outside speech;
    it also fires on a few words in silence inside an otherwise well-heard long segment."""
    threshold = config.max_outside_speech_share
    text, words = draft_text(draft), list(draft.segment.words)
    found_by = "voice activity detection" + (" or diarization" if draft.diarized else "")
    speech = speech_spans(draft, config.speech_tolerance_s)
    if not speech:
        if text:
            evidence = f"{found_by} found no speech at all, yet the segment has text: {quote(text)}"
            return _result(TEXT_WITHOUT_SPEECH, True, 1.0, threshold, evidence)
        return _result(TEXT_WITHOUT_SPEECH, False, 0.0, threshold, f"no text, and {found_by} found no speech")
    if not words:
        evidence = "no timed words to place against the speech" if text else "no text"
        return _result(TEXT_WITHOUT_SPEECH, False, 0.0, threshold, evidence)
    outside: list[common_pb2.Word] = []
    outside_s = total_s = 0.0
    for word in words:
        start, end = word.start_s, max(word.end_s, word.start_s + 0.02)  # a 0-length word still is somewhere
        missing = (end - start) - overlap_s(start, end, speech)
        total_s, outside_s = total_s + end - start, outside_s + missing
        if missing > (end - start) / 2:
            outside.append(word)
    share = outside_s / total_s
    fired = share >= threshold or len(outside) >= config.min_words_outside_speech
    evidence = (
        f"{outside_s:.2f} s of {total_s:.2f} s word time ({share:.0%}) lies outside the speech found by "
        f"{found_by} (±{config.speech_tolerance_s} s)"
        + (f"; words mostly outside: {quote_words(outside)}" if outside else "")
        + f"; limits {threshold:.0%} of the word time, or {config.min_words_outside_speech} words"
    )
    return _result(TEXT_WITHOUT_SPEECH, fired, share, threshold, evidence)


def repetition_loop(
    draft: transcripts_pb2.DraftTranscript, config: DetectorConfig
) -> transcripts_pb2.DetectorResult:
    """A decoder stuck in a loop writes one phrase over and over (worst on music and long
    silences). Three rules, each scaled so that 1.0 is its limit; the score is the strongest
    and the threshold 1.0: a phrase repeated back to back, one phrase making up most of the
    text, Whisper's own compression ratio (a gzip of the text: loops compress well)."""
    language = draft.segment.language
    per_char = scored_per_character(language)
    tokens = normalise_text(draft_text(draft), language).split()
    unit, joiner = ("characters", "") if per_char else ("words", " ")
    max_n, min_units = (
        (config.max_ngram_chars, config.min_loop_chars)
        if per_char
        else (config.max_ngram_words, config.min_loop_words)
    )

    def loop_strength(r: Repeat) -> float:
        return min(r.count / config.min_loop_repeats, r.covered / min_units)

    def share_strength(r: Repeat) -> float:
        return min(loop_strength(r), r.covered / max(len(tokens), 1) / config.max_repeated_share)

    loop = longest_loop(tokens, max_n, loop_strength)
    top = most_repeated(tokens, max_n, share_strength)
    ratio = draft.segment.compression_ratio
    rules = {
        "back-to-back repeat": loop_strength(loop),
        "repeated share": share_strength(top),
        "compression ratio": ratio / config.compression_ratio_threshold,
    }
    fired_by = [rule for rule, strength in rules.items() if strength >= 1.0]
    details = [
        f"{quote(joiner.join(loop.ngram))} {loop.count} times in a row ({loop.covered} of {len(tokens)} "
        f"{unit}; limit {config.min_loop_repeats} repeats over {min_units} {unit})"
        if loop.count
        else "no phrase repeated back to back",
        f"{quote(joiner.join(top.ngram))} makes up {top.covered / max(len(tokens), 1):.0%} of the {unit} "
        f"({top.count} times; limit {config.max_repeated_share:.0%})"
        if top.count
        else "no phrase occurs twice",
        f"compression ratio {ratio:.2f} (limit {config.compression_ratio_threshold})"
        if ratio > 0
        else "compression ratio not reported",
    ]
    head = f"fired by {', '.join(fired_by)}" if fired_by else "no rule reached its limit"
    return _result(REPETITION_LOOP, bool(fired_by), max(rules.values()), 1.0, f"{head}: {'; '.join(details)}")


def no_speech_with_text(
    draft: transcripts_pb2.DraftTranscript, config: DetectorConfig
) -> transcripts_pb2.DetectorResult:
    """Whisper's own estimate that the window holds no speech, while it still wrote text.
    faster-whisper drops a segment only when this is high *and* the decode was unsure, so a
    confident decode over audio the model itself thought silent reaches the gate."""
    text, probability, threshold = draft_text(draft), draft.segment.no_speech_prob, config.no_speech_threshold
    fired = bool(text) and probability > threshold
    relation = "above" if probability > threshold else "within"
    evidence = f"no-speech probability {probability:.2f} is {relation} the limit {threshold}" + (
        f" while the segment has text: {quote(text)}" if text else "; no text"
    )
    return _result(NO_SPEECH_WITH_TEXT, fired, probability, threshold, evidence)


def low_avg_logprob(
    draft: transcripts_pb2.DraftTranscript, config: DetectorConfig
) -> transcripts_pb2.DetectorResult:
    """The decoder's mean token log-probability: below faster-whisper's fallback threshold the
    decode is a guess (it was retried at higher temperatures and still came out unsure)."""
    text, logprob, threshold = draft_text(draft), draft.segment.avg_logprob, config.log_prob_threshold
    fired = bool(text) and logprob < threshold
    relation = "below" if logprob < threshold else "within"
    evidence = f"average token log-probability {logprob:.2f} is {relation} the limit {threshold}" + (
        f" (decoded at temperature {draft.segment.temperature:.1f}): {quote(text)}" if text else "; no text"
    )
    return _result(LOW_AVG_LOGPROB, fired, logprob, threshold, evidence)


def low_word_probability(
    draft: transcripts_pb2.DraftTranscript, config: DetectorConfig
) -> transcripts_pb2.DetectorResult:
    """The median word probability: a short decode of clicks or noise ("Okay. Okay.") can keep
    its no-speech probability and log-probability inside the limits while every word is a guess."""
    words = draft.segment.words
    threshold = config.min_median_word_probability
    if len(words) < config.min_words_for_median:
        evidence = f"{len(words)} word(s): too few for a median (needs {config.min_words_for_median})"
        return _result(LOW_WORD_PROBABILITY, False, 1.0, threshold, evidence)
    median = float(statistics.median(w.probability for w in words))
    fired = median < threshold
    lowest = sorted(words, key=lambda w: w.probability)[:5]
    evidence = (
        f"median word probability {median:.2f} is {'below' if fired else 'within'} the limit {threshold} "
        f"over {len(words)} words; lowest: "
        + ", ".join(f"{w.text.strip()!r} {w.probability:.2f}" for w in lowest)
    )
    return _result(LOW_WORD_PROBABILITY, fired, median, threshold, evidence)


def _phrase_score(match: PhraseMatch) -> float:
    return match.coverage if match.phrase.whole else 1.0


def known_phrase(
    draft: transcripts_pb2.DraftTranscript,
    config: DetectorConfig,
    phrases: PhraseBook,
    expected_language: str = "",
) -> transcripts_pb2.DetectorResult:
    """Text Whisper learned from subtitled videos and writes on silence ("Thanks for watching!",
    subtitle credits). Phrases matched anywhere come from every language's list (a Japanese
    credit in an English segment is as invented as in a Japanese one); whole-segment phrases
    only from the segment's language, the recording's and "*", as a short phrase of one language
    can be an ordinary word of another. Score: 1.0 for a phrase found anywhere, its share of the
    text for a whole-segment phrase."""
    threshold = config.min_phrase_coverage
    judged = {ANY_LANGUAGE} | {primary_language(c) for c in (draft.segment.language, expected_language) if c}
    text = draft_text(draft)
    if not text:
        return _result(KNOWN_PHRASE, False, 0.0, threshold, "no text")
    candidates = [p for code, listed in phrases.items() for p in listed if not p.whole or code in judged]
    matches = find_phrases(text, candidates)
    if not matches:
        evidence = f"no known hallucination among {len(candidates)} phrases in {quote(text)}"
        return _result(KNOWN_PHRASE, False, 0.0, threshold, evidence)
    best = max(matches, key=_phrase_score)
    score, phrase = _phrase_score(best), best.phrase
    listed = f"{phrase.text!r} ({phrase.language!r} list)"
    if score >= threshold:
        where = f"makes up {best.coverage:.0%} of the text" if phrase.whole else "found in the text"
        evidence = f"known hallucination {listed} {where}: {quote(text)}"
    else:
        evidence = (
            f"no known hallucination; closest: {listed}, a whole-segment phrase, makes up only "
            f"{best.coverage:.0%} of the text (limit {threshold:.0%}): {quote(text)}"
        )
    return _result(KNOWN_PHRASE, score >= threshold, score, threshold, evidence)


def speaking_rate(
    draft: transcripts_pb2.DraftTranscript, config: DetectorConfig
) -> transcripts_pb2.DetectorResult:
    """More text than a person can say in the time: an invented sentence squeezed into a short
    stretch of audio. Measured over the VAD speech inside the words' span (pauses do not dilute
    it), else the span itself. Only too fast is judged: too few words is a deletion, not a
    hallucination, and Whisper leaves out fillers routinely."""
    words = list(draft.segment.words)
    language = draft.segment.language
    code = primary_language(language)
    if scored_per_character(code):
        text = " ".join(w.text.strip() for w in words)
        units, unit = len(normalise_text(text, language).split()), "characters"
        limit = (
            config.max_han_kana_chars_per_s if code in _HAN_KANA_LANGUAGES else config.max_brahmic_chars_per_s
        )
    else:
        units, unit = sum(any(c.isalnum() for c in w.text) for w in words), "words"
        limit = config.max_words_per_s
    if not words:
        return _result(SPEAKING_RATE, False, 0.0, limit, "no words")
    start, end = min(w.start_s for w in words), max(w.end_s for w in words)
    vad = merge_spans([(s.start_s, s.end_s) for s in draft.voice_activity])
    speech_s = overlap_s(start, end, vad)
    measured_s, basis = (
        (speech_s, "VAD speech inside the words' span")
        if speech_s > 0
        else (max(end - start, 0.0), "the words' span")
    )
    rate = units / max(measured_s, config.min_rate_span_s)
    fired = rate > limit
    counted = f"{units} {unit if units != 1 else unit[:-1]}"
    evidence = (
        f"{counted} over {measured_s:.2f} s of {basis} ({start:.2f}-{end:.2f} s): "
        f"{rate:.1f} {unit}/s (limit {limit})"
    )
    if measured_s < config.min_rate_span_s:
        evidence += (
            f"; {measured_s:.2f} s is too short to measure a rate, so it is taken over "
            f"{config.min_rate_span_s} s, a lower bound"
        )
    return _result(SPEAKING_RATE, fired, rate, limit, evidence)


def language_mismatch(
    draft: transcripts_pb2.DraftTranscript, config: DetectorConfig, expected_language: str = ""
) -> transcripts_pb2.DetectorResult:
    """Text in another language than the recording's: a segment labelled otherwise, or letters
    that are mostly in a script the language is not written in (Japanese subtitle credits in an
    English segment). ``expected_language`` "" means unknown: only the script is judged."""
    threshold = config.max_foreign_script_share
    text = draft_text(draft)
    if not text:
        return _result(LANGUAGE_MISMATCH, False, 0.0, threshold, "no text")
    segment_language, expected = primary_language(draft.segment.language), primary_language(expected_language)
    label_differs = bool(segment_language and expected and segment_language != expected)
    findings = [
        f"segment language {draft.segment.language!r} differs from the recording's {expected_language!r}"
        if label_differs
        else f"segment language {draft.segment.language!r}, recording's "
        + (repr(expected_language) if expected_language else "unknown")
    ]
    judged = segment_language or expected
    allowed, scripts = expected_scripts(judged), letter_scripts(text)
    letters, share = sum(scripts.values()), 0.0
    if allowed is None:
        findings.append(f"scripts of {judged or 'an unknown language'!r} not known: script not judged")
    elif letters < config.min_script_letters:
        findings.append(
            f"{letters} letters, too few to judge the script (at least {config.min_script_letters})"
        )
    else:
        foreign = {script: n for script, n in scripts.most_common() if script not in allowed}
        share = sum(foreign.values()) / letters
        written = "/".join(s.title() for s in sorted(allowed))
        found = ", ".join(f"{s.title() or 'unnamed'} {n}" for s, n in foreign.items()) or "none"
        findings.append(
            f"{share:.0%} of {letters} letters are not {written} as {judged!r} is written "
            f"(limit {threshold:.0%}; others: {found}): {quote(text)}"
        )
    fired = label_differs or share > threshold
    return _result(LANGUAGE_MISMATCH, fired, max(share, float(label_differs)), threshold, "; ".join(findings))


def timestamps_invalid(
    draft: transcripts_pb2.DraftTranscript, config: DetectorConfig
) -> transcripts_pb2.DetectorResult:
    """Word times that cannot be right: outside the segment or its audio, ending before they
    start, or out of order. Every word must be traceable to its audio span, and bad times also
    betray a decode that lost its alignment. Score: the number of offending words."""
    segment, tolerance = draft.segment, config.timestamp_tolerance_s
    audio_end = segment.start_s + draft.audio.duration_s if draft.audio.duration_s > 0 else None
    problems: list[str] = []
    previous_start = float("-inf")
    for i, word in enumerate(segment.words):
        if word.end_s < word.start_s:
            problem = "ends before it starts"
        elif word.start_s < segment.start_s - tolerance:
            problem = f"starts before the segment ({segment.start_s:.2f} s)"
        elif segment.end_s > segment.start_s and word.end_s > segment.end_s + tolerance:
            problem = f"ends after the segment ({segment.end_s:.2f} s)"
        elif audio_end is not None and word.end_s > audio_end + tolerance:
            problem = f"ends after the audio ({audio_end:.2f} s: segment start + audio duration)"
        elif word.start_s < previous_start:
            problem = f"starts before the previous word ({previous_start:.2f} s)"
        else:
            problem = ""
        if problem:
            problems.append(
                f"word {i} {word.text.strip()!r} ({word.start_s:.2f}-{word.end_s:.2f} s) {problem}"
            )
        previous_start = max(previous_start, word.start_s)
    count = len(problems)
    if not segment.words:
        evidence = "no words"
    elif problems:
        more = f"; and {count - 3} more" if count > 3 else ""
        evidence = (
            f"{count} of {len(segment.words)} words have impossible times: {'; '.join(problems[:3])}{more}"
        )
    else:
        evidence = f"the {len(segment.words)} word time(s) lie in order within the segment (±{tolerance} s)"
    return _result(TIMESTAMPS_INVALID, count > 0, float(count), 1.0, evidence)


def run_detectors(
    draft: transcripts_pb2.DraftTranscript,
    config: DetectorConfig,
    phrases: PhraseBook,
    expected_language: str,
) -> list[transcripts_pb2.DetectorResult]:
    """Every detector, in ``DETECTOR_NAMES`` order, so verdicts compare column by column."""
    return [
        text_without_speech(draft, config),
        repetition_loop(draft, config),
        no_speech_with_text(draft, config),
        low_avg_logprob(draft, config),
        low_word_probability(draft, config),
        known_phrase(draft, config, phrases, expected_language),
        speaking_rate(draft, config),
        language_mismatch(draft, config, expected_language),
        timestamps_invalid(draft, config),
    ]
