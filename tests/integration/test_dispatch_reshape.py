"""Splitting a segment in parts and merging the next one into it, through the real API."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from protos import common_pb2, events_pb2, transcripts_pb2
from services.dispatch.client import DispatchError
from shared.topics import TRANSCRIPTS_CORRECTED
from tests.dispatch_harness import make_verdict, running_dispatch

pytestmark = pytest.mark.integration


def test_split_is_reviewed_whole_and_published_in_parts(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        rita = d.person("rita", ["reviewer"], ["en"])
        d.feed(make_verdict("seg-1", "hello there how are you today"))  # words every 0.4 s from 0
        task = anna.claim_next()
        assert task is not None
        with pytest.raises(DispatchError) as one_part:
            anna.split(task, [])
        assert one_part.value.code == grpc.StatusCode.INVALID_ARGUMENT
        anna.split(task, [0.8])  # "hello there" | "how are you today"
        review = rita.claim_next()
        assert review is not None and list(review.split_at) == [pytest.approx(0.8)]
        rita.review(review.task_id, approve=True)
        published: list[transcripts_pb2.CorrectedTranscript] = d.published(TRANSCRIPTS_CORRECTED.name)  # type: ignore[assignment]
        assert [m.segment.segment_id for m in published] == ["seg-1/1", "seg-1/2"]
        assert [m.segment.text for m in published] == ["hello there", "how are you today"]
        assert [m.draft.text for m in published] == ["hello there", "how are you today"]
        assert {m.split_of for m in published} == {"seg-1"}
        assert published[0].segment.end_s == pytest.approx(0.8) == published[1].segment.start_s


def test_merge_absorbs_the_next_segment_and_closes_its_task(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        bob = d.person("bob", ["annotator"], ["en"])
        rita = d.person("rita", ["reviewer"], ["en"])
        d.feed(make_verdict("s0", "so I was", index=0))
        d.feed(make_verdict("s1", "saying that", index=1, start_s=1.2))
        d.feed(make_verdict("s2", "again", index=2, start_s=2.0))
        first = anna.claim_next()
        assert first is not None and first.segment.segment_id == "s0"
        merged = common_pb2.TranscriptSegment()
        merged.CopyFrom(first.segment)
        del merged.words[:]
        for w in [*first.segment.words, *make_verdict("s1", "saying that", start_s=1.2).draft.segment.words]:
            merged.words.append(w)
        merged.text = "so I was saying that"
        with pytest.raises(DispatchError) as not_next:
            anna.merge_next(first, "s2", merged)
        assert (
            not_next.value.code == grpc.StatusCode.INVALID_ARGUMENT
            and "only the next" in not_next.value.message
        )
        held = bob.claim_next()
        assert held is not None and held.segment.segment_id == "s1"
        with pytest.raises(DispatchError) as taken:
            anna.merge_next(first, "s1", merged)
        assert taken.value.code == grpc.StatusCode.FAILED_PRECONDITION
        bob.release(held.task_id)
        anna.merge_next(first, "s1", merged)
        absorbed = d.admin.get_task(task_id="s1:correct")
        assert absorbed.state == events_pb2.TASK_STATE_DONE and "merged into s0" in absorbed.review_reasons[0]
        review = rita.claim_next()
        assert review is not None and list(review.merged_segment_ids) == ["s1"]
        rita.review(review.task_id, approve=True)
        published: list[transcripts_pb2.CorrectedTranscript] = d.published(TRANSCRIPTS_CORRECTED.name)  # type: ignore[assignment]
        assert len(published) == 1
        message = published[0]
        assert message.segment.text == "so I was saying that" and list(message.merged_segment_ids) == ["s1"]
        assert message.segment.end_s == pytest.approx(2.0) and message.draft.text == "so I was saying that"
        assert [v.kind for v in d.admin.history("s1").versions] == ["draft", "merged"]
