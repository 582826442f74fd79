"""How far the machine's draft was from what a person made of it: WER, CER and the words changed.

The correction is the reference and the draft the hypothesis, both after ``shared.text``'s
normalisation, so a "deletion" is a word the draft missed and an "insertion" a word the person
removed. In languages written without spaces every "word" here is a character.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, TypeVar

import jiwer

from protos import quality_pb2, transcripts_pb2
from shared.text import NORMALISATION, error_rate, normalise_text, scored_per_character, wer

ChangeKind = Literal["substitution", "insertion", "deletion"]
_Key = TypeVar("_Key", str, tuple[str, str])


class Change(NamedTuple):
    """One edit of the alignment; a tuple, so that ``Counter`` can count confusions."""

    kind: ChangeKind
    draft_word: str  # "" for a deletion
    corrected_word: str  # "" for an insertion


class _Rates:
    """WER and CER from the counts, for one segment or a sum of many alike."""

    substitutions: int
    insertions: int
    deletions: int
    reference_words: int
    character_errors: int
    reference_characters: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.insertions + self.deletions

    @property
    def wer(self) -> float:
        return error_rate(self.errors, self.reference_words)

    @property
    def cer(self) -> float:
        return error_rate(self.character_errors, self.reference_characters)


@dataclass(frozen=True)
class SegmentScore(_Rates):
    language: str
    reference_words: int  # words of the correction after normalisation
    hits: int
    substitutions: int
    insertions: int
    deletions: int
    reference_characters: int
    character_errors: int
    changes: tuple[Change, ...] = ()


def score_segment(draft: str, corrected: str, language: str = "") -> SegmentScore:
    """WER and CER of ``draft`` against ``corrected``, with the changed words.

    CER counts code points of the normalised text, spaces between words included (jiwer's
    definition); in languages scored per character it is the WER.
    """
    reference = normalise_text(corrected, language)
    hypothesis = normalise_text(draft, language)
    hits, subs, ins, dels, changes = _align_words(reference.split(), hypothesis.split())
    if scored_per_character(language):
        characters, character_errors = hits + subs + dels, subs + ins + dels
    else:
        characters, character_errors = _character_errors(reference, hypothesis)
    return SegmentScore(
        language, hits + subs + dels, hits, subs, ins, dels, characters, character_errors, changes
    )


def score_correction(message: transcripts_pb2.CorrectedTranscript) -> SegmentScore:
    """The draft carried in a correction against the corrected text."""
    language = message.segment.language or message.draft.language or message.context.language_hint
    return score_segment(message.draft.text, message.segment.text, language)


def _align_words(
    reference: list[str], hypothesis: list[str]
) -> tuple[int, int, int, int, tuple[Change, ...]]:
    """(hits, substitutions, insertions, deletions, changes); jiwer 3 refuses an empty side."""
    if not reference or not hypothesis:
        missed = [Change("deletion", "", word) for word in reference]
        added = [Change("insertion", word, "") for word in hypothesis]
        return 0, 0, len(hypothesis), len(reference), tuple(missed + added)
    out = jiwer.process_words(" ".join(reference), " ".join(hypothesis))
    ref, hyp = out.references[0], out.hypotheses[0]
    changes: list[Change] = []
    for chunk in out.alignments[0]:
        refs = ref[chunk.ref_start_idx : chunk.ref_end_idx]
        hyps = hyp[chunk.hyp_start_idx : chunk.hyp_end_idx]
        if chunk.type == "substitute":  # a run of n substitutions pairs word for word
            changes += [Change("substitution", h, r) for r, h in zip(refs, hyps, strict=True)]
        elif chunk.type == "insert":
            changes += [Change("insertion", h, "") for h in hyps]
        elif chunk.type == "delete":
            changes += [Change("deletion", "", r) for r in refs]
    counts = (out.hits, out.substitutions, out.insertions, out.deletions)
    hits, subs, ins, dels = (int(c) for c in counts)
    return hits, subs, ins, dels, tuple(changes)


def _character_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(reference characters, character edits)."""
    if not reference or not hypothesis:
        return len(reference), len(reference) + len(hypothesis)
    out = jiwer.process_characters(reference, hypothesis)
    return len(reference), int(out.substitutions) + int(out.insertions) + int(out.deletions)


@dataclass
class WerTotals(_Rates):
    """Sums over many segments. Rates are corpus-level: all errors over all reference words
    (word-weighted), not a mean of segment rates, which short segments would dominate."""

    segments: int = 0
    reference_words: int = 0
    hits: int = 0
    substitutions: int = 0
    insertions: int = 0
    deletions: int = 0
    reference_characters: int = 0
    character_errors: int = 0

    def add(self, score: SegmentScore) -> None:
        self.segments += 1
        self.reference_words += score.reference_words
        self.hits += score.hits
        self.substitutions += score.substitutions
        self.insertions += score.insertions
        self.deletions += score.deletions
        self.reference_characters += score.reference_characters
        self.character_errors += score.character_errors

    def to_row(self, group: str) -> quality_pb2.WerRow:
        return quality_pb2.WerRow(
            group=group,
            segments=self.segments,
            wer=self.wer,
            cer=self.cer,
            substitutions=self.substitutions,
            insertions=self.insertions,
            deletions=self.deletions,
        )


def group_scores(scored: Iterable[tuple[str, SegmentScore]]) -> dict[str, WerTotals]:
    """Totals per group; the group is whatever the caller keys on (language, speaker,
    model_version, linguist, ...). Languages scored per character add characters as words."""
    totals: dict[str, WerTotals] = {}
    for group, score in scored:
        totals.setdefault(group, WerTotals()).add(score)
    return totals


def wer_rows(scored: Iterable[tuple[str, SegmentScore]]) -> list[quality_pb2.WerRow]:
    """One row per group, in group order."""
    return [totals.to_row(group) for group, totals in sorted(group_scores(scored).items())]


def wer_report(scored: Iterable[tuple[str, SegmentScore]]) -> quality_pb2.WerReport:
    return quality_pb2.WerReport(rows=wer_rows(scored), normalisation=NORMALISATION)


@dataclass(frozen=True)
class Confusions:
    """The most frequent edits, each with its count, most frequent first (ties by word)."""

    substitutions: list[tuple[tuple[str, str], int]] = field(default_factory=list)  # (draft, corrected)
    insertions: list[tuple[str, int]] = field(default_factory=list)  # draft words people removed
    deletions: list[tuple[str, int]] = field(default_factory=list)  # words the draft missed


def top_confusions(scored: Iterable[SegmentScore], n: int = 10) -> Confusions:
    """What the model gets wrong most often: candidates for its vocabulary and for training."""
    substitutions: Counter[tuple[str, str]] = Counter()
    insertions: Counter[str] = Counter()
    deletions: Counter[str] = Counter()
    for score in scored:
        for change in score.changes:
            if change.kind == "substitution":
                substitutions[(change.draft_word, change.corrected_word)] += 1
            elif change.kind == "insertion":
                insertions[change.draft_word] += 1
            else:
                deletions[change.corrected_word] += 1
    return Confusions(_most_common(substitutions, n), _most_common(insertions, n), _most_common(deletions, n))


def _most_common(counts: Counter[_Key], n: int) -> list[tuple[_Key, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]


def agreement_wer(text_a: str, text_b: str, language: str = "") -> float:
    """Disagreement between two people's transcripts of the same audio. Neither is the
    reference, so it is the mean of the WER in both directions (the edits are the same both
    ways; only the number of reference words differs)."""
    return (wer(text_a, text_b, language).wer + wer(text_b, text_a, language).wer) / 2


def gold_accuracy(reference: str, correction: str, language: str = "") -> float:
    """How well a linguist did on a gold segment whose right transcript is known: 1 - WER,
    floored at 0 (a correction can add more words than the reference has)."""
    return max(0.0, 1.0 - wer(reference, correction, language).wer)
