"""Splitting a snapshot: no speaker and no recording in two splits, gold and evaluation material
never in train, splits that stay put across snapshots, duplicates dropped."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from protos import events_pb2
from services.feedback.snapshot import Candidate, assign_splits, dedup_key, deduplicate


def cand(
    seg: str, rec: str, spk: str, dur: float = 10.0, protected: bool = False, key: str = ""
) -> Candidate:
    return Candidate(seg, rec, spk, dur, protected, key or seg)


def where(splits: dict[str, str], items: list[Candidate], attr: str) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for c in items:
        seen.setdefault(getattr(c, attr), set()).add(splits[c.segment_id])
    return seen


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 12), st.integers(0, 15), st.floats(0.5, 60), st.booleans()),
        min_size=1,
        max_size=60,
    ),
    st.dictionaries(st.integers(0, 12), st.sampled_from(["train", "dev", "test"]), max_size=5),
)
def test_no_speaker_or_recording_leaks_and_protected_material_is_never_trained_on(
    rows: list[tuple[int, int, float, bool]], earlier: dict[int, str]
) -> None:
    items = [
        cand(f"s{n}", f"rec{r}", f"spk{s}", d, protected and n % 3 == 0)
        for n, (r, s, d, protected) in enumerate(rows)
    ]
    previous = {f"rec{r}": split for r, split in earlier.items()}
    splits = assign_splits(items, previous)
    assert set(splits) == {c.segment_id for c in items}
    assert all(len(s) == 1 for s in where(splits, items, "speaker_id").values())
    assert all(len(s) == 1 for s in where(splits, items, "recording_id").values())
    assert not any(c.protected and splits[c.segment_id] == "train" for c in items)
    # A recording an earlier snapshot held out is never trained on now.
    for c in items:
        if previous.get(c.recording_id) in ("dev", "test"):
            assert splits[c.segment_id] != "train"


def test_recordings_that_share_a_speaker_go_together_and_the_shares_are_approached() -> None:
    items = [cand("a1", "recA", "agent-1"), cand("b1", "recB", "agent-1"), cand("b2", "recB", "caller-9")]
    items += [cand(f"x{n}", f"rec{n}", f"spk{n}") for n in range(20)]
    splits = assign_splits(items)
    assert splits["a1"] == splits["b1"] == splits["b2"]
    seconds = {
        s: sum(c.duration_s for c in items if splits[c.segment_id] == s) for s in ("train", "dev", "test")
    }
    total = sum(seconds.values())
    assert 0.7 <= seconds["train"] / total <= 0.9
    assert seconds["dev"] > 0 and seconds["test"] > 0


def test_three_recordings_fill_three_splits_and_the_result_is_stable() -> None:
    items = [cand(f"s{n}", f"rec{n}", f"spk{n}") for n in range(3)]
    first = assign_splits(items)
    assert sorted(first.values()) == ["dev", "test", "train"]
    assert assign_splits(list(reversed(items))) == first


def test_splits_stay_put_when_new_recordings_arrive() -> None:
    items = [cand(f"s{n}", f"rec{n}", f"spk{n}") for n in range(10)]
    first = assign_splits(items)
    previous = {c.recording_id: first[c.segment_id] for c in items}
    more = items + [cand(f"n{n}", f"new{n}", f"nspk{n}", 30.0) for n in range(10)]
    second = assign_splits(more, previous)
    assert all(second[c.segment_id] == first[c.segment_id] for c in items)


def test_a_group_with_gold_material_goes_to_test_whole() -> None:
    items = [cand("g", "recG", "spk-shared", protected=True), cand("o", "recO", "spk-shared")]
    items += [cand(f"x{n}", f"rec{n}", f"spk{n}") for n in range(5)]
    splits = assign_splits(items)
    assert splits["g"] == splits["o"] == "test"


def test_duplicates_keep_the_first_by_segment_id() -> None:
    items = [cand("b", "r1", "s", key="same"), cand("a", "r2", "s", key="same"), cand("c", "r3", "s")]
    kept, dropped = deduplicate(items)
    assert [c.segment_id for c in kept] == ["a", "c"] and [c.segment_id for c in dropped] == ["b"]


def test_the_same_audio_span_is_a_duplicate_and_a_different_span_is_not() -> None:
    def example(start: float, sha: str = "ab" * 32) -> events_pb2.TrainingExample:
        ex = events_pb2.TrainingExample(
            start_s=start, end_s=start + 2.0, audio_start_s=start, target_text="hi"
        )
        ex.audio.sha256 = sha
        return ex

    assert dedup_key(example(3.0)) == dedup_key(example(7.0))  # same blob, same span in it
    assert dedup_key(example(3.0)) != dedup_key(example(3.0, "cd" * 32))
    no_audio = events_pb2.TrainingExample(speaker_id="s", target_text="Hello  there", end_s=2.0)
    same_words = events_pb2.TrainingExample(speaker_id="s", target_text="hello there", start_s=5, end_s=7.0)
    assert dedup_key(no_audio) == dedup_key(same_words)
