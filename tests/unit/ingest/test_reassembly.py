from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.ingest.reassembly import ChunkOutcome, StreamAssembly, StreamState


def chunk(i: int) -> bytes:
    return f"chunk-{i}".encode()


class Stored:
    """The assembly with the chunk store intake keeps beside it (one digest per accepted chunk)."""

    def __init__(self) -> None:
        self.assembly = StreamAssembly("s")
        self.digests: dict[int, str] = {}

    def add(self, sequence: int, data: bytes, final: bool, now_s: float) -> ChunkOutcome:
        digest = hashlib.sha256(data).hexdigest()
        outcome = self.assembly.add(sequence, digest, final, now_s, self.digests.get(sequence))
        if outcome is ChunkOutcome.ACCEPTED:
            self.digests[sequence] = digest
        return outcome

    def __getattr__(self, name: str) -> Any:
        return getattr(self.assembly, name)


@given(
    st.integers(min_value=1, max_value=40).flatmap(
        lambda n: st.tuples(st.just(n), st.permutations(list(range(n)) * 2))
    )
)
def test_any_order_with_duplicates_comes_out_once_in_order(case: tuple[int, list[int]]) -> None:
    n, arrivals = case
    stream = Stored()
    emitted: list[int] = []
    outcomes = []
    for t, seq in enumerate(arrivals):
        outcomes.append(stream.add(seq, chunk(seq), final=seq == n - 1, now_s=float(t)))
        emitted += stream.take_ready()
    assert emitted == list(range(n))
    assert outcomes.count(ChunkOutcome.ACCEPTED) == n
    assert outcomes.count(ChunkOutcome.DUPLICATE) == n
    assert stream.state(now_s=len(arrivals), gap_grace_s=5, timeout_s=30) == StreamState.COMPLETE


def test_gap_is_reported_after_the_grace_period_never_filled() -> None:
    stream = Stored()
    for seq in (0, 1, 3):
        stream.add(seq, chunk(seq), final=seq == 3, now_s=0.0)
    assert stream.take_ready() == [0, 1]
    assert stream.missing() == [2]
    assert stream.state(now_s=1.0, gap_grace_s=5, timeout_s=30) == StreamState.RECEIVING
    assert stream.state(now_s=6.0, gap_grace_s=5, timeout_s=30) == StreamState.GAP
    # The missing chunk arriving after the verdict does not reopen the stream.
    assert stream.add(2, chunk(2), final=False, now_s=7.0) == ChunkOutcome.LATE
    assert stream.state(now_s=7.0, gap_grace_s=5, timeout_s=30) == StreamState.GAP


def test_stream_without_final_chunk_times_out() -> None:
    stream = Stored()
    stream.add(0, chunk(0), final=False, now_s=0.0)
    assert stream.state(now_s=29.0, gap_grace_s=5, timeout_s=30) == StreamState.RECEIVING
    assert stream.state(now_s=31.0, gap_grace_s=5, timeout_s=30) == StreamState.TIMED_OUT


def test_conflicts_and_chunks_after_the_final_one() -> None:
    stream = Stored()
    assert stream.add(0, b"a", final=False, now_s=0) == ChunkOutcome.ACCEPTED
    assert stream.add(0, b"b", final=False, now_s=0) == ChunkOutcome.CONFLICT
    assert stream.add(2, b"c", final=False, now_s=0) == ChunkOutcome.ACCEPTED
    assert stream.add(1, b"d", final=True, now_s=0) == ChunkOutcome.CONFLICT  # 2 came already
    assert stream.add(3, b"e", final=True, now_s=0) == ChunkOutcome.ACCEPTED
    assert stream.add(4, b"f", final=False, now_s=0) == ChunkOutcome.AFTER_FINAL
    assert stream.missing() == [1]


def test_the_state_stays_small_and_round_trips() -> None:
    stream = Stored()
    for seq in range(1000):
        stream.add(seq, chunk(seq), final=False, now_s=0.0)
        stream.take_ready()
    stream.add(1002, chunk(1002), final=True, now_s=1.0)
    state = stream.to_dict()
    assert state["pending"] == [1002] and state["next_to_emit"] == 1000  # not 1001 chunks' digests
    again = StreamAssembly.from_dict("s", state)
    assert again == stream.assembly and again.missing() == [1000, 1001]
    assert (
        again.add(5, hashlib.sha256(chunk(5)).hexdigest(), False, 2.0, known_digest=None) is ChunkOutcome.LATE
    )
