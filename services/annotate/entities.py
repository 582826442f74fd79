"""Entities from three layers, merged into one non-overlapping set with canonical labels.

- the trained spaCy pipeline's NER, where the language has one (labels mapped to ours: spaCy's
  English OntoNotes ``GPE``/``FAC`` and French ``PER`` become ``LOC``/``PERSON``);
- pattern rules that work in every language: emails, phone numbers, IDs, amounts, times, dates,
  numbers (regular expressions over the text, since a phone number spans several tokens);
- the tenant's gazetteer (phrases by label), matched case-insensitively on token boundaries.

Where spans overlap, the more trustworthy layer wins (``PRIORITY``): a tenant's own product name
beats everything, an email or phone pattern beats the model (which reads "48213" as a DATE), and
the model beats the loose date/amount patterns it was trained to find better.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from services.annotate.lexicon import lexicon

# spaCy labels (English OntoNotes, French/Spanish/German WikiNER) -> ours.
CANONICAL = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "ORG": "ORG",
    "GPE": "LOC",
    "LOC": "LOC",
    "FAC": "LOC",
    "DATE": "DATE",
    "TIME": "TIME",
    "MONEY": "MONEY",
    "CARDINAL": "NUMBER",
    "QUANTITY": "NUMBER",
    "PERCENT": "NUMBER",
    "ORDINAL": "NUMBER",
    "PRODUCT": "PRODUCT",
}
# Labels that identify a person: marked ``personal_data`` and removed by redaction.
PERSONAL = frozenset({"PERSON", "EMAIL", "PHONE", "ID"})

# Layer priorities: higher wins an overlap; equal priority: the longer span wins.
GAZETTEER, STRICT_RULE, MODEL, LOOSE_RULE, FALLBACK_RULE = 3, 2, 1, 0, -1
# Confidence of a rule hit: set by hand, not measured per pattern (the labelled sets score a type's
# entities from every layer together: results/annotate_eval.json).
RULE_CONFIDENCE = {
    "EMAIL": 0.99,
    "PHONE": 0.95,
    "ID": 0.9,
    "MONEY": 0.9,
    "TIME": 0.85,
    "DATE": 0.8,
    "NUMBER": 0.9,
}


@dataclass(frozen=True)
class Span:
    start_char: int
    end_char: int
    label: str
    source: str  # "model:<pipeline>", "rule:<name>", "gazetteer:<tenant>", "review:<actor>"
    confidence: float
    priority: int = MODEL


_CURRENCY = r"(?:[$€£¥]|euros?|dollars?|pounds?|pesos?|francs?|cents?|EUR|USD|GBP|CHF|Euro)"


@dataclass(frozen=True)
class _Rule:
    """A pattern, and what a text must hold for it to match at all (a digit, a character, one of
    some words): most utterances hold none of these, and a regular expression with many
    alternatives costs more to try than to skip."""

    label: str
    pattern: re.Pattern[str]
    priority: int
    digit: bool = False
    char: str = ""
    words: frozenset[str] = frozenset()  # lower case, the first word of each phrase

    def may_match(self, text: str, has_digit: bool, text_words: set[str]) -> bool:
        return (
            (self.digit and has_digit)
            or (bool(self.char) and self.char in text)
            or not self.words.isdisjoint(text_words)
        )


_WORD = re.compile(r"\w+")
# The non-ASCII letters ``re.IGNORECASE`` takes for ASCII ones (the ``re`` docs name these four):
# folded before ``lower()``, so that a gate word found by the pattern is found in the text too.
_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


def text_words(text: str) -> set[str]:
    """The text's words, lower case, as the gates compare them."""
    return set(_WORD.findall(text.translate(_FOLD).lower()))


def _first_words(*alternations: str) -> frozenset[str]:
    """The first word of each alternative of these lexicon alternations ("next week" -> "next")."""
    return frozenset(
        found.group().lower()
        for alternation in alternations
        for phrase in alternation.split("|")
        if (found := _WORD.search(phrase))
    )


def _patterns(language: str) -> list[_Rule]:
    lex = lexicon(language)
    months, weekdays = lex.months, lex.weekdays
    art = rf"(?:(?:{lex.article})\s+)?" if lex.article else ""
    before = rf"(?:(?:{lex.before})\s+)?" if lex.before else ""
    after = rf"(?:\s+(?:{lex.after}))?" if lex.after else ""
    clock = rf"|\b\d{{1,2}}\s?(?:{lex.clock})(?:\s?\d{{2}})?(?!\w)" if lex.clock else ""
    flags = re.IGNORECASE
    day = r"\d{1,2}(?:st|nd|rd|th|er|\.|º)?"
    return [
        _Rule("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), STRICT_RULE, char="@"),
        # 7 to 15 digits in groups (spoken numbers are written in groups), optional +country code.
        _Rule(
            "PHONE",
            re.compile(r"(?<![\w.,])\+?\d(?:[ .-]?\(?\d\)?){6,14}(?![\w,]|\.\d)"),
            STRICT_RULE,
            digit=True,
        ),
        # Codes that mix letters and digits with dashes (AB-1234-XY), or 5+ digit runs.
        _Rule(
            "ID",
            re.compile(
                r"\b(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])[A-Z0-9]{1,8}(?:-[A-Z0-9]{1,10})+\b|\b\d{5,}\b"
            ),
            STRICT_RULE,
            digit=True,
        ),
        _Rule(
            "MONEY",
            re.compile(
                rf"(?:[$€£¥]\s?\d[\d,.]*(?:\s?(?:million|billion|k))?"
                rf"|\d[\d,. ]*\d\s?{_CURRENCY}|\d\s?{_CURRENCY})(?!\w)",
                flags,
            ),
            LOOSE_RULE,
            digit=True,
        ),
        _Rule(
            "TIME",
            re.compile(
                r"\b\d{1,2}(?::\d{2}|\s?h\s?\d{2})(?:\s?(?:[ap]\.?m\.?|uhr))?(?!\w)"
                + clock
                + (rf"|\b(?:{lex.times})\b" if lex.times else ""),
                flags,
            ),
            LOOSE_RULE,
            digit=True,
            words=_first_words(lex.times),
        ),
        _Rule(
            "DATE",
            re.compile(
                rf"\b\d{{1,2}}[./-]\d{{1,2}}[./-]\d{{2,4}}\b"
                # [the] [weekday[,] [den|the]] 3[rd] [of|de] March [2024]
                rf"|\b{art}(?:(?:{weekdays}),?\s+(?:(?:den|the)\s+)?)?{day}\s+(?:(?:of|de)\s+)?(?:{months})"
                rf"(?:,?\s+(?:de\s+)?\d{{4}})?(?!\w)"
                # [weekday] March 3rd [2024]
                rf"|\b(?:(?:{weekdays}),?\s+)?(?:{months})\s+{day}(?:,?\s+\d{{4}})?(?!\w)"
                # [the|next] Monday [the 4th] [prochain]
                rf"|\b{art}{before}(?:{weekdays})(?:\s+the\s+{day})?{after}(?!\w)"
                rf"|\b(?:{lex.days})(?!\w)"
                rf"|\b(?:{lex.months_alone or months})\b"
                rf"|\b(?:19|20)\d{{2}}\b",
                flags,
            ),
            LOOSE_RULE,
            digit=True,
            words=_first_words(weekdays, lex.days, lex.months_alone, months),
        ),
        # Any other number: only where nothing else claimed its digits.
        _Rule("NUMBER", re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)*(?!\w)"), FALLBACK_RULE, digit=True),
    ]


_PATTERN_CACHE: dict[str, list[_Rule]] = {}


def rule_spans(text: str, language: str) -> list[Span]:
    """Every pattern hit in ``text``, before overlaps are resolved."""
    if language not in _PATTERN_CACHE:
        _PATTERN_CACHE[language] = _patterns(language)
    has_digit, words = any(c.isdigit() for c in text), text_words(text)
    spans = []
    for rule in _PATTERN_CACHE[language]:
        if not rule.may_match(text, has_digit, words):
            continue
        label, priority = rule.label, rule.priority
        for match in rule.pattern.finditer(text):
            start, end = match.span()
            while end > start and text[end - 1] in " .,;:":
                end -= 1
            if label == "PHONE" and text[start:end].isdigit() and text[start] != "0":
                continue  # a bare run of digits is a customer or order number, not a phone
            if end > start:
                spans.append(
                    Span(start, end, label, f"rule:{label.lower()}", RULE_CONFIDENCE[label], priority)
                )
    return spans


@dataclass(frozen=True)
class Gazetteer:
    """A tenant's phrases by label, compiled to one case-insensitive alternation per label, and
    the first word of each phrase: a text that holds none of a label's first words is not
    searched (a long alternation costs more to try than to skip)."""

    tenant: str
    patterns: Mapping[str, re.Pattern[str]]
    # None: a phrase whose first word is not plain ASCII, or that has no word: always searched.
    first_words: Mapping[str, frozenset[str] | None]

    @classmethod
    def of(cls, tenant: str, phrases: Mapping[str, Iterable[str]]) -> Gazetteer:
        compiled, first_words = {}, {}
        for label, items in phrases.items():
            words = sorted({p.strip() for p in items if p.strip()}, key=len, reverse=True)
            if words:
                alternation = "|".join(re.escape(w) for w in words)
                compiled[label.upper()] = re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE)
                firsts = [found.group().lower() if (found := _WORD.search(w)) else "" for w in words]
                exact = all(f and f.isascii() for f in firsts)  # a gate word to compare as such
                first_words[label.upper()] = frozenset(firsts) if exact else None
        return cls(tenant, compiled, first_words)

    def spans(self, text: str) -> list[Span]:
        words = text_words(text)
        return [
            Span(m.start(), m.end(), label, f"gazetteer:{self.tenant}", 0.95, GAZETTEER)
            for label, pattern in self.patterns.items()
            if (firsts := self.first_words[label]) is None or not firsts.isdisjoint(words)
            for m in pattern.finditer(text)
        ]


def model_spans(
    ents: Iterable[tuple[int, int, str]], pipeline: str, precision: Mapping[str, float]
) -> list[Span]:
    """The model's entities with our labels; confidence is the measured precision of that label
    in that language (the small spaCy pipelines give no per-entity score)."""
    spans = []
    for start, end, spacy_label in ents:
        label = CANONICAL.get(spacy_label, "MISC")
        # A bare number the model saw says less than a rule's date, amount or ID around it.
        priority = FALLBACK_RULE if label == "NUMBER" else MODEL
        spans.append(Span(start, end, label, f"model:{pipeline}", precision.get(label, 0.5), priority))
    return spans


def _contains(outer: Span, inner: Span) -> bool:
    """Strictly larger: two spans of the same extent are left to the priorities."""
    same = (outer.start_char, outer.end_char) == (inner.start_char, inner.end_char)
    return outer.start_char <= inner.start_char and inner.end_char <= outer.end_char and not same


def resolve(spans: Sequence[Span]) -> list[Span]:
    """Non-overlapping spans, in text order: higher priority first, then longer, then earlier.

    Two layers that agree on the label keep the longer span ("$45.50" from the pattern over the
    model's "45.50"), whatever their priorities."""
    spans = [s for s in spans if not any(o.label == s.label and _contains(o, s) for o in spans)]
    taken: list[Span] = []
    for span in sorted(spans, key=lambda s: (-s.priority, s.start_char - s.end_char, s.start_char)):
        if all(span.end_char <= t.start_char or span.start_char >= t.end_char for t in taken):
            taken.append(span)
    return sorted(taken, key=lambda s: s.start_char)
