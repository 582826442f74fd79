"""Put a stream's chunks back in order: drop duplicates, report gaps and streams that never end.

Pure bookkeeping over sequence numbers, so it is testable without a broker; the handler keeps one
``StreamAssembly`` per stream in the database, beside one row per chunk. A gap or a timeout is an
explicit state, never silence filled in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class StreamState(StrEnum):
    RECEIVING = "receiving"
    COMPLETE = "complete"
    GAP = "gap"  # the final chunk arrived but some before it did not, within the grace period
    TIMED_OUT = "timed_out"  # no final chunk within the stream timeout


class ChunkOutcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # same sequence, same bytes: a redelivery, ignored
    CONFLICT = "conflict"  # same sequence, different bytes: the producer is broken
    AFTER_FINAL = "after_final"  # a sequence past the final one
    LATE = "late"  # the stream already ended (complete, gap or timed out)


@dataclass
class StreamAssembly:
    """Where a stream stands, in a few numbers: what came past the contiguous run, what is next.

    The chunks themselves (their digests and blobs) live in the caller's store, one row each, so
    this state stays small however long the stream; ``add`` is told the digest already stored
    for a sequence, if any, to tell a harmless redelivery from a conflicting chunk.
    """

    stream_id: str
    pending: set[int] = field(default_factory=set)  # received at or after next_to_emit, not yet taken
    highest: int = -1  # the highest sequence received
    final_sequence: int | None = None
    next_to_emit: int = 0
    last_chunk_at_s: float = 0.0
    first_chunk_at_s: float = 0.0  # when the first chunk came (0: none yet)
    ended: StreamState | None = None

    def add(
        self, sequence: int, digest: str, final: bool, now_s: float, known_digest: str | None = None
    ) -> ChunkOutcome:
        """``digest``: the chunk's sha256; ``known_digest``: that of the chunk already stored
        under ``sequence`` (None when none is)."""
        if sequence < 0:
            raise ValueError(f"sequence must be >= 0, got {sequence}")
        if known_digest is not None:  # a redelivery stays a harmless duplicate even after the end
            return ChunkOutcome.DUPLICATE if known_digest == digest else ChunkOutcome.CONFLICT
        if self.ended is not None or sequence < self.next_to_emit:
            return ChunkOutcome.LATE
        if self.final_sequence is not None and sequence > self.final_sequence:
            return ChunkOutcome.AFTER_FINAL
        if final:
            if self.highest > sequence:
                return ChunkOutcome.CONFLICT  # a later chunk already came: this cannot be final
            self.final_sequence = sequence
        self.pending.add(sequence)
        self.highest = max(self.highest, sequence)
        self.last_chunk_at_s = now_s
        self.first_chunk_at_s = self.first_chunk_at_s or now_s
        return ChunkOutcome.ACCEPTED

    def take_ready(self) -> list[int]:
        """Sequences that can be processed now, in order: the contiguous run after the last one."""
        ready = []
        while self.next_to_emit in self.pending:
            self.pending.remove(self.next_to_emit)
            ready.append(self.next_to_emit)
            self.next_to_emit += 1
        return ready

    def missing(self) -> list[int]:
        """Sequence numbers not received below the highest one known (or the final one); every
        sequence before ``next_to_emit`` was received, by definition."""
        top = self.final_sequence if self.final_sequence is not None else self.highest
        return [s for s in range(self.next_to_emit, top + 1) if s not in self.pending]

    def to_dict(self) -> dict[str, object]:
        return {
            "pending": sorted(self.pending),
            "highest": self.highest,
            "final_sequence": self.final_sequence,
            "next_to_emit": self.next_to_emit,
            "last_chunk_at_s": self.last_chunk_at_s,
            "first_chunk_at_s": self.first_chunk_at_s,
            "ended": self.ended.value if self.ended else None,
        }

    @classmethod
    def from_dict(cls, stream_id: str, data: dict[str, Any]) -> StreamAssembly:
        ended = data.get("ended")
        final = data.get("final_sequence")
        return cls(
            stream_id=stream_id,
            pending={int(s) for s in data.get("pending", [])},
            highest=int(data.get("highest", -1)),
            final_sequence=int(final) if final is not None else None,
            next_to_emit=int(data.get("next_to_emit", 0)),
            last_chunk_at_s=float(data.get("last_chunk_at_s", 0.0)),
            first_chunk_at_s=float(data.get("first_chunk_at_s", 0.0)),
            ended=StreamState(ended) if ended else None,
        )

    def state(self, now_s: float, gap_grace_s: float, timeout_s: float) -> StreamState:
        """Where the stream stands; GAP and TIMED_OUT are final, and sticky once reached."""
        if self.ended is not None:
            return self.ended
        idle_s = now_s - self.last_chunk_at_s
        if self.final_sequence is not None:
            if not self.missing():
                self.ended = StreamState.COMPLETE
            elif idle_s > gap_grace_s:
                self.ended = StreamState.GAP
        elif idle_s > timeout_s:
            self.ended = StreamState.TIMED_OUT
        return self.ended or StreamState.RECEIVING
