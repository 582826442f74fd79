"""Text normalisation and word error rate, the same for every service that scores a transcript.

ASR's evaluation, the quality gate's draft-versus-correction scores and feedback's reports all
go through ``normalise_text``, so a WER from one means what it means in the others.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

# Written without spaces between words: a "word" for WER is a character (with its combining
# marks), as in the CER that Chinese, Japanese and Thai ASR results are reported in.
CHARACTER_SCORED_LANGUAGES = frozenset({"zh", "yue", "ja", "th", "lo", "my", "km"})
# Full-width Latin, digits and half-width katakana are only typography in CJK text.
_WIDTH_FOLDED_LANGUAGES = frozenset({"zh", "yue", "ja"})

NORMALISATION = (
    "Unicode NFC (NFKC for zh, yue and ja, folding full- and half-width forms), lower-case, every "
    "character but letters, digits, combining marks and in-word apostrophes made a space, whitespace "
    "collapsed; numbers are not spelled out. zh, yue, ja, th, lo, my and km are scored per character "
    "(a letter with its combining marks), their spaces ignored; other languages per word."
)

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})


def primary_language(language: str) -> str:
    """The primary subtag of a BCP-47 tag ("zh-Hant-TW" -> "zh"), lower-case."""
    return re.split(r"[-_]", language.strip(), maxsplit=1)[0].lower()


def scored_per_character(language: str) -> bool:
    return primary_language(language) in CHARACTER_SCORED_LANGUAGES


def normalise_text(text: str, language: str = "") -> str:
    """The project's WER normalisation: what differs after it is a word error, nothing else.

    Unicode NFC (composed and decomposed accents compare equal; accents are kept, "é" is not
    "e"), lower-case (``str.lower``, not ``casefold``, so German "ß" stays "ß"), typographic
    apostrophes as "'", every character that is not a letter, digit, combining mark or
    apostrophe becomes a space (so "Est-ce" is "est ce" on both sides, "¿Qué?" is "qué"), an
    apostrophe survives only inside a word ("didn't", "l'appel", "aujourd'hui"; not a quote
    mark), whitespace collapsed. Numbers are not spelled out and spellings not unified: the
    references write numbers as words.

    ``language`` (BCP-47) picks the per-language extensions: for languages written without
    spaces (``CHARACTER_SCORED_LANGUAGES``) the result is their characters separated by single
    spaces, each letter with its combining marks, so that every word-level score (``wer``,
    cpWER, a word diff) counts characters there; where a draft put spaces does not count. Chinese
    and Japanese are NFKC-normalised first, so "ＡＢ１" is "ab1" and "ｶﾞ" is "ガ".
    """
    code = primary_language(language)
    form: Literal["NFC", "NFKC"] = "NFKC" if code in _WIDTH_FOLDED_LANGUAGES else "NFC"
    text = unicodedata.normalize(form, text).lower().translate(_APOSTROPHES)
    kept = "".join(c if c == "'" or unicodedata.category(c)[0] in "LNM" else " " for c in text)
    kept = re.sub(r"(?<!\w)'|'(?!\w)", " ", kept)
    if code in CHARACTER_SCORED_LANGUAGES:
        return " ".join(_characters("".join(kept.split())))
    return " ".join(kept.split())


def _characters(text: str) -> list[str]:
    """Letters with the combining marks that follow them (Thai tone marks, Khmer vowel signs):
    a mark on its own is not something a person would call a character."""
    characters: list[str] = []
    for c in text:
        if characters and unicodedata.category(c)[0] == "M":
            characters[-1] += c
        else:
            characters.append(c)
    return characters


@dataclass(frozen=True)
class WerResult:
    wer: float
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions


def error_rate(errors: int, reference_words: int) -> float:
    """Errors per reference word; with no reference words each inserted word counts as one, as
    jiwer 4 does, so the rate stays a finite number in the JSON results."""
    return errors / max(reference_words, 1)


def word_errors(reference: str, hypothesis: str) -> WerResult:
    """Errors between two already normalised texts; either may be empty (jiwer 3 refuses an
    empty reference, so those are counted here)."""
    import jiwer  # the `ml` extra: services that only normalise text need not install it

    ref, hyp = reference.split(), hypothesis.split()
    if not ref or not hyp:
        return WerResult(error_rate(len(ref) + len(hyp), len(ref)), 0, len(ref), len(hyp), len(ref))
    out = jiwer.process_words(reference, hypothesis)
    s, d, i = int(out.substitutions), int(out.deletions), int(out.insertions)
    return WerResult(error_rate(s + d + i, len(ref)), s, d, i, len(ref))


def wer(reference: str, hypothesis: str, language: str = "") -> WerResult:
    """Word error rate after ``normalise_text`` on both sides (jiwer's alignment); per character
    for the languages written without spaces."""
    return word_errors(normalise_text(reference, language), normalise_text(hypothesis, language))
