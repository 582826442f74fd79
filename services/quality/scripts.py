"""Which writing system a text's letters are in, and which ones a language is written in.

Used to catch a draft whose text contradicts its language label (Whisper answering an English
segment in Japanese subtitles). Scripts come from Unicode character names ("CYRILLIC SMALL
LETTER A"), which needs no extra dependency and covers every script Whisper writes.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

from shared.text import primary_language

# Name prefixes that are not the script's own name.
_NAME_ALIASES = {
    "CJK": "HAN",
    "IDEOGRAPHIC": "HAN",  # 々 (iteration mark), 〆
    "KATAKANA-HIRAGANA": "KATAKANA",  # ー (prolonged sound mark)
}

# Languages by the scripts they are normally written in; a language that is not here is not judged.
_WRITTEN_IN = (
    ("LATIN", "af az ca cs cy da de en es et eu fi fr ga gl hr hu id is it lt lv ms mt nb nl nn no pl pt"),
    ("LATIN", "ro sk sl sq sv sw tl tr uz vi"),
    ("CYRILLIC", "be bg kk ky mk mn ru tg tt uk"),
    ("CYRILLIC LATIN", "sr"),  # written in both
    ("ARABIC", "ar fa ps sd ur"),
    ("DEVANAGARI", "hi mr ne sa"),
    ("BENGALI", "as bn"),
    ("GREEK", "el"),
    ("HEBREW", "he yi"),
    ("ARMENIAN", "hy"),
    ("GEORGIAN", "ka"),
    ("ETHIOPIC", "am"),
    ("GURMUKHI", "pa"),
    ("GUJARATI", "gu"),
    ("TAMIL", "ta"),
    ("TELUGU", "te"),
    ("KANNADA", "kn"),
    ("MALAYALAM", "ml"),
    ("SINHALA", "si"),
    ("THAI", "th"),
    ("LAO", "lo"),
    ("MYANMAR", "my"),
    ("KHMER", "km"),
    ("HAN", "zh yue"),
    ("HAN HIRAGANA KATAKANA", "ja"),
    ("HANGUL HAN", "ko"),
)
EXPECTED_SCRIPTS: dict[str, frozenset[str]] = {
    code: frozenset(scripts.split()) for scripts, codes in _WRITTEN_IN for code in codes.split()
}


def script_of(letter: str) -> str:
    """The script of one letter, e.g. "LATIN", "HAN", "HIRAGANA"; "" when it has no name."""
    name = unicodedata.name(letter, "")
    first = name.split(" ", 1)[0]
    return _NAME_ALIASES.get(first, first)


def letter_scripts(text: str) -> Counter[str]:
    """How many letters of each script the text has. NFKC first, so full-width Latin counts as
    Latin and half-width katakana as katakana; digits, marks and punctuation are not letters."""
    text = unicodedata.normalize("NFKC", text)
    return Counter(script_of(c) for c in text if unicodedata.category(c).startswith("L"))


def expected_scripts(language: str) -> frozenset[str] | None:
    """The scripts ``language`` (BCP-47) is written in, or None when this table does not know."""
    return EXPECTED_SCRIPTS.get(primary_language(language))
