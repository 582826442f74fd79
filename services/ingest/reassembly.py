"""Put a stream's chunks back in order: drop duplicates, report gaps and streams that never end.

Pure bookkeeping over sequence numbers, so it is testable without a broker; the handler keeps one
``StreamAssembly`` per stream in the database. A gap or a timeout is an explicit state, never
silence filled in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum


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
    stream_id: str
    digests: dict[int, str] = field(default_factory=dict)  # sequence -> sha256 of the chunk's bytes
    final_sequence: int | None = None
    next_to_emit: int = 0
    last_chunk_at_s: float = 0.0
    ended: StreamState | None = None

    def add(self, sequence: int, data: bytes, final: bool, now_s: float) -> ChunkOutcome:
        if sequence < 0:
            raise ValueError(f"sequence must be >= 0, got {sequence}")
        digest = hashlib.sha256(data).hexdigest()
        known = self.digests.get(sequence)
        if known is not None:  # a redelivery stays a harmless duplicate even after the end
            return ChunkOutcome.DUPLICATE if known == digest else ChunkOutcome.CONFLICT
        if self.ended is not None:
            return ChunkOutcome.LATE
        if self.final_sequence is not None and sequence > self.final_sequence:
            return ChunkOutcome.AFTER_FINAL
        if final:
            if any(s > sequence for s in self.digests):
                return ChunkOutcome.CONFLICT  # a later chunk already came: this cannot be final
            self.final_sequence = sequence
        self.digests[sequence] = digest
        self.last_chunk_at_s = now_s
        return ChunkOutcome.ACCEPTED

    def take_ready(self) -> list[int]:
        """Sequences that can be processed now, in order: the contiguous run after the last one."""
        ready = []
        while self.next_to_emit in self.digests:
            ready.append(self.next_to_emit)
            self.next_to_emit += 1
        return ready

    def missing(self) -> list[int]:
        """Sequence numbers not received below the highest one known (or the final one)."""
        top = self.final_sequence if self.final_sequence is not None else max(self.digests, default=-1)
        return [s for s in range(top + 1) if s not in self.digests]

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
