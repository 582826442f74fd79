"""Dataset snapshots: the examples kept so far, frozen, de-duplicated and split so that no
speaker is in two splits, with evaluation and gold material never in train."""

from __future__ import annotations

import re
from collections.abc import Callable
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
