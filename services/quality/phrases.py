"""Known hallucination phrases: the data file, its validation, and how a text is matched to it.

The list is data (``hallucination_phrases.yaml``) so the team extends it without touching code;
a malformed file fails loudly at start-up rather than silently matching nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shared.text import normalise_text

DEFAULT_PHRASES_PATH = Path(__file__).with_name("hallucination_phrases.yaml")
ANY_LANGUAGE = "*"
_LANGUAGE_KEY = re.compile(r"[a-z]{2,3}")  # a BCP-47 primary subtag
_ENTRY_KEYS = frozenset({"phrase", "whole"})


class PhraseFileError(ValueError):
    """The phrase file cannot be used; the message names the file and the entry."""

    code = "Q001"

    def __init__(self, path: Path, where: str, problem: str) -> None:
        self.path, self.where = path, where
        super().__init__(f"{self.code}: {path}: {where}: {problem}")


@dataclass(frozen=True)
class KnownPhrase:
    text: str  # as written in the file, for evidence
    language: str  # the file's key: a primary subtag or "*"
    whole: bool  # only a hallucination when it makes up most of the segment
    key: str  # what is matched: ``match_key(text)``


# Phrases per language key, in file order.
PhraseBook = Mapping[str, tuple[KnownPhrase, ...]]


@dataclass(frozen=True)
class PhraseMatch:
    phrase: KnownPhrase
    occurrences: int
    coverage: float  # share of the text's matched characters taken by the phrase's occurrences


def match_key(text: str) -> str:
    """The project's normalisation (NFKC first, for every script) with all spaces removed.

    Spaces are dropped because drafts space CJK text arbitrarily ("字幕由 Amara.org 社区提供");
    for a multi-word phrase, matching across word boundaries costs nothing in practice.
    """
    return "".join(normalise_text(unicodedata.normalize("NFKC", text)).split())


def find_phrases(text: str, phrases: Iterable[KnownPhrase]) -> list[PhraseMatch]:
    """Every phrase found in ``text``, most of the text covered first."""
    key = match_key(text)
    matches = []
    for phrase in phrases:
        if phrase.key and phrase.key in key:
            count = key.count(phrase.key)
            matches.append(PhraseMatch(phrase, count, min(1.0, count * len(phrase.key) / len(key))))
    return sorted(matches, key=lambda m: -m.coverage)


def load_phrases(path: Path = DEFAULT_PHRASES_PATH) -> dict[str, tuple[KnownPhrase, ...]]:
    """Read and validate the phrase file; raises ``PhraseFileError`` naming the bad entry."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PhraseFileError(path, "file", f"cannot be read as YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise PhraseFileError(path, "top level", "expected a mapping of language -> list of phrases")
    return {_language_key(path, key): _entries(path, key, value) for key, value in data.items()}


def _language_key(path: Path, key: object) -> str:
    if isinstance(key, str) and (key == ANY_LANGUAGE or _LANGUAGE_KEY.fullmatch(key)):
        return key
    raise PhraseFileError(
        path,
        f"key {key!r}",
        'expected a lower-case BCP-47 primary subtag such as "en", or "*" (quote keys YAML '
        'reads as booleans or numbers, e.g. "no")',
    )


def _entries(path: Path, language: str, value: object) -> tuple[KnownPhrase, ...]:
    if not isinstance(value, list) or not value:
        raise PhraseFileError(path, language, "expected a non-empty list of phrases")
    phrases: list[KnownPhrase] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(value):
        where = f"{language}[{i}]"
        phrase = _entry(path, where, language, entry)
        if phrase.key in seen:
            raise PhraseFileError(path, where, f"{phrase.text!r} repeats {language}[{seen[phrase.key]}]")
        seen[phrase.key] = i
        phrases.append(phrase)
    return tuple(phrases)


def _entry(path: Path, where: str, language: str, entry: Any) -> KnownPhrase:
    whole: object = False
    if isinstance(entry, dict):
        unknown = set(entry) - _ENTRY_KEYS
        if unknown or "phrase" not in entry:
            raise PhraseFileError(
                path, where, f"expected {{phrase: <text>, whole: true|false}}, got keys {sorted(entry)}"
            )
        entry, whole = entry["phrase"], entry.get("whole", False)
    if not isinstance(whole, bool):
        raise PhraseFileError(path, where, f"'whole' must be true or false, got {whole!r}")
    if not isinstance(entry, str):
        raise PhraseFileError(path, where, f"expected a phrase (text), got {entry!r}")
    key = match_key(entry)
    if not key:
        raise PhraseFileError(path, where, f"{entry!r} has no letters or digits left after normalisation")
    return KnownPhrase(entry.strip(), language, whole, key)
