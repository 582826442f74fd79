"""Repeated phrases in a token sequence: the shape of a decoder caught in a loop.

Tokens are a text's normalised words, or its characters in languages written without spaces.
A candidate's ``strength`` is supplied by the caller, which holds the limits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Repeat:
    ngram: tuple[str, ...]
    count: int

    @property
    def covered(self) -> int:
        return self.count * len(self.ngram)


def longest_loop(tokens: Sequence[str], max_n: int, strength: Callable[[Repeat], float]) -> Repeat:
    """The strongest back-to-back repeat: a run where token i equals token i + n, for each n."""
    best = Repeat((), 0)
    for n in range(1, max_n + 1):
        streak = 0
        for i in range(len(tokens) - n):
            streak = streak + 1 if tokens[i] == tokens[i + n] else 0
            if streak >= n and streak % n == 0:
                start = i - streak + 1
                candidate = Repeat(tuple(tokens[start : start + n]), 1 + streak // n)
                if strength(candidate) > strength(best):
                    best = candidate
    return best


def most_repeated(tokens: Sequence[str], max_n: int, strength: Callable[[Repeat], float]) -> Repeat:
    """The n-gram whose non-overlapping occurrences, anywhere, are strongest."""
    best = Repeat((), 0)
    for n in range(1, max_n + 1):
        starts: defaultdict[tuple[str, ...], list[int]] = defaultdict(list)
        for i in range(len(tokens) - n + 1):
            starts[tuple(tokens[i : i + n])].append(i)
        for ngram, positions in starts.items():
            count, free_from = 0, 0
            for position in positions:
                if position >= free_from:
                    count, free_from = count + 1, position + n
            if count > 1 and strength(candidate := Repeat(ngram, count)) > strength(best):
                best = candidate
    return best
