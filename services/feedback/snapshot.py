"""Dataset snapshots: the examples kept so far, frozen, de-duplicated and split so that no
speaker is in two splits, with evaluation and gold material never in train."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from protos import common_pb2, events_pb2

SPLITS = ("train", "dev", "test")

# The bytes of a blob an AudioRef points to (the exports cut each example's span out of them).
AudioSource = Callable[[common_pb2.AudioRef], bytes]


def safe_id(text: str) -> str:
    """An id safe in file names and Kaldi tables: letters, digits, '-', '_' only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "x"


@dataclass(frozen=True)
class SnapshotExample:
    """One example of a snapshot, in its split."""

    example: events_pb2.TrainingExample
    split: str

    @property
    def speaker_key(self) -> str:
        return safe_id(self.example.speaker_id)

    @property
    def utterance_id(self) -> str:
        """Kaldi's rule: an utterance id starts with its speaker id, so sorting keeps them together."""
        return f"{self.speaker_key}-{safe_id(self.example.segment_id)}"

    @property
    def offset_s(self) -> float:
        """Where the example starts in its audio blob."""
        return max(self.example.start_s - self.example.audio_start_s, 0.0)

    @property
    def duration_s(self) -> float:
        return max(self.example.end_s - self.example.start_s, 0.0)


# ----------------------------------------------------------------------------- splitting

# Target shares of speech per split; whole groups of recordings that share a speaker move together.
SPLIT_SHARES = {"train": 0.8, "dev": 0.1, "test": 0.1}
# When a group holds recordings that earlier snapshots put in different splits, the most
# protected one wins, so nothing once held out is ever trained on.
PROTECTION = {"train": 0, "dev": 1, "test": 2}


@dataclass(frozen=True)
class Candidate:
    """What splitting needs to know of an example."""

    segment_id: str
    recording_id: str
    speaker_id: str
    duration_s: float
    protected: bool  # gold or evaluation material: never in train
    dedup_key: str


def dedup_key(example: events_pb2.TrainingExample) -> str:
    """The same audio span (a re-sent recording), or the same speaker saying the same words in a
    span of the same length (a copy under another id), is one example."""
    length = example.end_s - example.start_s
    if example.audio.sha256:
        offset = example.start_s - example.audio_start_s
        return f"audio:{example.audio.sha256}:{offset:.2f}:{length:.2f}"
    text = " ".join(example.target_text.lower().split())
    return f"text:{example.speaker_id}:{text}:{length:.1f}"


def deduplicate(candidates: Sequence[Candidate]) -> tuple[list[Candidate], list[Candidate]]:
    """(kept, dropped): the first of each key by segment id is kept, so the choice is stable."""
    kept: dict[str, Candidate] = {}
    dropped = []
    for candidate in sorted(candidates, key=lambda c: c.segment_id):
        if candidate.dedup_key in kept:
            dropped.append(candidate)
        else:
            kept[candidate.dedup_key] = candidate
    return list(kept.values()), dropped


class _Groups:
    """Union-find over recordings: two recordings that share a speaker are one group."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        self.parent.setdefault(item, item)
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _stable_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def assign_splits(
    candidates: Sequence[Candidate], previous: Mapping[str, str] | None = None
) -> dict[str, str]:
    """segment_id -> split. No speaker and no recording is in two splits; a group with gold or
    evaluation material goes to test; a group with a recording an earlier snapshot split keeps
    that split (the most protected of them); the others, in an order fixed by a hash of the group,
    first fill any empty split (train, test, dev), then go where speech is most short of
    ``SPLIT_SHARES``."""
    previous = previous or {}
    groups = _Groups()
    for c in candidates:
        groups.union(f"rec:{c.recording_id}", f"spk:{c.speaker_id}")
    members: dict[str, list[Candidate]] = {}
    for c in candidates:
        members.setdefault(groups.find(f"rec:{c.recording_id}"), []).append(c)

    split_of_group: dict[str, str] = {}
    seconds = dict.fromkeys(SPLITS, 0.0)
    free = []
    for root, group in members.items():
        earlier = {previous[c.recording_id] for c in group if c.recording_id in previous}
        if any(c.protected for c in group):
            earlier.add("test")
        if earlier:
            split_of_group[root] = max(earlier, key=PROTECTION.__getitem__)
            seconds[split_of_group[root]] += sum(c.duration_s for c in group)
        else:
            free.append(root)
    for root in sorted(free, key=lambda r: _stable_hash(min(c.recording_id for c in members[r]))):
        total = sum(seconds.values()) + sum(c.duration_s for c in members[root])
        deficit = {s: SPLIT_SHARES[s] * total - seconds[s] for s in SPLITS}
        # A small dataset still gets a test and a dev split: an empty split is filled first.
        empty = [s for s in ("train", "test", "dev") if seconds[s] == 0]
        split = empty[0] if empty else max(SPLITS, key=lambda s: (deficit[s], -PROTECTION[s]))
        split_of_group[root] = split
        seconds[split] += sum(c.duration_s for c in members[root])
    return {c.segment_id: split_of_group[root] for root, group in members.items() for c in group}
