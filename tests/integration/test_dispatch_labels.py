"""Label reviews through dispatch's real handler and gRPC API, on SQLite and PostgreSQL: annotations
the model was unsure of become label-review tasks in their language; the holder's checked labels
go out on labels.reviewed.v1; bad labels, the wrong task and the wrong person are refused and
audited; redelivered versions open nothing, newer ones supersede."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import select

from protos import events_pb2, transcripts_pb2
from services.dispatch.__main__ import build
from services.dispatch.client import DispatchClient, DispatchError
from services.dispatch.store import AuditRow, DispatchTask
from shared.db import OutboxEntry
from shared.kafka import codec
from shared.kafka.consumer import InvalidMessage
from shared.topics import LABELS_REVIEWED, TASKS_EVENTS, TRANSCRIPTS_ANNOTATED, TRANSCRIPTS_QA
from tests.dispatch_harness import DispatchHarness, make_annotated, make_verdict, running_dispatch

pytestmark = pytest.mark.integration

LABEL_REVIEW = events_pb2.TASK_KIND_LABEL_REVIEW
TEXT = "Anna Berg called about order 4417 and she is not happy"


def entity(label: str, start: int, end: int) -> transcripts_pb2.Entity:
    return transcripts_pb2.Entity(label=label, start_char=start, end_char=end)


def refusal(call: object, *args: object, **kwargs: object) -> DispatchError:
    with pytest.raises(DispatchError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


def label_tasks(d: DispatchHarness, segment_id: str) -> list[DispatchTask]:
    with d.ctx.sessions() as session:
        query = select(DispatchTask).where(
            DispatchTask.segment_id == segment_id, DispatchTask.kind == LABEL_REVIEW
        )
        return list(session.scalars(query.order_by(DispatchTask.base_version)))


def refused_rows(d: DispatchHarness, action: str) -> list[AuditRow]:
    with d.ctx.sessions() as session:
        query = select(AuditRow).where(AuditRow.action == action, AuditRow.allowed.is_(False))
        return list(session.scalars(query.order_by(AuditRow.entry_id)))


def reviews(d: DispatchHarness) -> list[transcripts_pb2.LabelReview]:
    return d.published(LABELS_REVIEWED.name)  # type: ignore[return-value]


def claim_label(client: DispatchClient) -> str:
    task = client.claim_next([LABEL_REVIEW])
    assert task is not None and task.kind == LABEL_REVIEW
    return task.task_id


def test_label_review_in_its_language_submitted_and_published(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        dieter = d.person("dieter", ["annotator"], ["de"])
        # The gate judged the segment high risk and let it through; annotate was unsure of its labels.
        d.feed(make_verdict("seg-1", TEXT, risk_tier="high", route=transcripts_pb2.ROUTE_AUTO_ACCEPT))
        d.feed_annotated(make_annotated("seg-1", TEXT, version=3), trace_id="trace-rec-1")

        assert dieter.queue() == [] and dieter.claim_next() is None
        (queued,) = anna.queue()
        assert queued.kind == LABEL_REVIEW and queued.tier == "annotator" and queued.language == "en"
        assert queued.priority == 300 and queued.version == 3  # a high-risk correction's place
        assert [e.label for e in queued.annotation.entities] == ["PERSON", "CARDINAL"]
        assert queued.annotation.review_reasons == ["sentiment: negative 0.41 vs neutral 0.38"]
        assert queued.segment.text == TEXT and queued.context.recording_id == "rec-1"

        task = anna.claim_next()
        assert task is not None and task.task_id == "seg-1:label:3" and task.assignee == "anna"
        # An auto-accepted segment's audio never reached dispatch: an empty WAV, not an error.
        assert len(anna.audio(task.task_id)) == 44
        order = TEXT.index("order 4417")
        done = anna.submit_labels(
            task.task_id,
            [entity("PERSON", 0, 9), entity("ORDER_ID", order, order + len("order 4417"))],
            sentiment="neutral",
            intent="order_status",
            notes="she is calm",
        )
        assert done.state == events_pb2.TASK_STATE_DONE and done.kind == LABEL_REVIEW

        (review,) = reviews(d)
        assert review.segment_id == "seg-1" and review.version == 3 and review.task_id == task.task_id
        assert review.context.recording_id == "rec-1" and review.context.tenant_id == "acme"
        assert (review.sentiment, review.intent, review.notes) == ("neutral", "order_status", "she is calm")
        assert review.reviewed_by == "anna" and review.provenance.actor == "anna"
        assert review.provenance.service == d.settings.service_name
        person, order_id = review.entities
        assert (person.label, person.text, person.source) == ("PERSON", "Anna Berg", "review:anna")
        assert person.personal_data and person.confidence == pytest.approx(0.7)  # kept from the model
        assert (order_id.label, order_id.text, order_id.source) == ("ORDER_ID", "order 4417", "review:anna")
        assert not order_id.personal_data

        with d.ctx.sessions() as session:
            row = session.scalars(select(OutboxEntry).where(OutboxEntry.topic == LABELS_REVIEWED.name)).one()
            assert row.key == b"rec-1"
            assert [codec.TRACE_ID, "trace-rec-1"] in [list(h) for h in row.headers]
        events = [e for e in d.published(TASKS_EVENTS.name) if e.task_id == task.task_id]  # type: ignore[attr-defined]
        assert [e.to_state for e in events] == [  # type: ignore[attr-defined]
            events_pb2.TASK_STATE_QUEUED,
            events_pb2.TASK_STATE_CLAIMED,
            events_pb2.TASK_STATE_DONE,
        ]
        stats = d.admin.stats()
        assert dict(stats.by_kind) == {"label_review": 1} and dict(stats.by_state) == {"done": 1}
        trail = d.admin.audit_trail(task_id=task.task_id)
        assert [e.action for e in reversed(trail)] == [
            "created",
            "ClaimNextTask",
            "StreamTaskAudio",
            "SubmitLabels",
        ]


def test_bad_labels_the_wrong_task_and_the_wrong_person_are_refused(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        bob = d.person("bob", ["annotator"], ["en"])
        d.feed_annotated(make_annotated("seg-1", TEXT))
        task_id = claim_label(anna)
        person = entity("PERSON", 0, 9)

        cases: list[tuple[dict[str, Any], str]] = [
            ({"sentiment": "furious", "intent": "complaint"}, "sentiment 'furious' is not one of"),
            ({"sentiment": "neutral", "intent": "refund"}, "intent 'refund' is not one of"),
            (
                {"entities": [person, entity("PERSON", 5, 15)]},
                "entities[1] (PERSON 5-15) overlaps entities[0] (PERSON 0-9)",
            ),
            (
                {"entities": [person, entity("ORG", 10, 16), entity("MISC", 40, 80)]},
                f"entities[2].end_char 80 is past the end of the text ({len(TEXT)} characters)",
            ),
            ({"entities": [entity("person", 0, 9)]}, "entities[0].label 'person' is not a label"),
        ]
        for given, message in cases:
            answer = {"entities": [person], "sentiment": "neutral", "intent": "complaint", **given}
            error = refusal(anna.submit_labels, task_id, **answer)
            assert error.code == grpc.StatusCode.INVALID_ARGUMENT, given
            assert message in error.message, (message, error.message)

        stranger = refusal(bob.submit_labels, task_id, [person], "neutral", "complaint")
        assert stranger.code == grpc.StatusCode.FAILED_PRECONDITION and "not held by bob" in stranger.message

        d.feed(make_verdict("seg-2", "hello there", index=1))  # a correction task, through SubmitLabels
        correction = anna.claim_next([events_pb2.TASK_KIND_CORRECT])
        assert correction is not None
        wrong_kind = refusal(anna.submit_labels, correction.task_id, [], "neutral", "complaint")
        assert wrong_kind.code == grpc.StatusCode.FAILED_PRECONDITION
        assert "is a correct task, not a label review" in wrong_kind.message

        denied = refused_rows(d, "SubmitLabels")
        assert [r.outcome for r in denied] == ["INVALID_ARGUMENT"] * 5 + ["FAILED_PRECONDITION"] * 2
        assert [r.actor for r in denied][-2:] == ["bob", "anna"]
        assert {r.task_id for r in denied} == {task_id, correction.task_id}
        assert reviews(d) == []
        assert label_tasks(d, "seg-1")[0].state == events_pb2.TASK_STATE_CLAIMED  # nothing changed

        done = anna.submit_labels(task_id, [person], "neutral", "complaint")
        assert done.state == events_pb2.TASK_STATE_DONE and len(reviews(d)) == 1


def test_only_annotations_needing_review_open_tasks_once_per_version(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        d.feed_annotated(make_annotated("seg-sure", TEXT, needs_label_review=False))
        assert label_tasks(d, "seg-sure") == [] and anna.queue() == []

        d.feed_annotated(make_annotated("seg-1", TEXT, version=1))
        d.feed_annotated(make_annotated("seg-1", TEXT, version=1))  # republished: same version
        (first,) = label_tasks(d, "seg-1")

        d.feed_annotated(make_annotated("seg-1", TEXT + " at all", version=2))
        old, new = label_tasks(d, "seg-1")
        assert old.task_id == first.task_id and old.state == events_pb2.TASK_STATE_DONE
        assert old.reasons == ["superseded by version 2"]
        assert new.state == events_pb2.TASK_STATE_QUEUED and new.base_version == 2

        d.feed_annotated(make_annotated("seg-1", TEXT, version=1))  # a stale version arriving late
        assert len(label_tasks(d, "seg-1")) == 2
        (queued,) = anna.queue()
        assert queued.task_id == new.task_id and queued.annotation.segment.text.endswith("at all")

        # A held task is left to its holder; the next version still gets its own task.
        held = claim_label(anna)
        d.feed_annotated(make_annotated("seg-1", TEXT, version=3))
        states = {t.task_id: t.state for t in label_tasks(d, "seg-1")}
        assert states[held] == events_pb2.TASK_STATE_CLAIMED
        assert states["seg-1:label:3"] == events_pb2.TASK_STATE_QUEUED

        d.feed_annotated(make_annotated("seg-2", TEXT, version=5))
        d.feed_annotated(make_annotated("seg-2", TEXT, version=4))  # never seen, but older than 5
        assert [t.base_version for t in label_tasks(d, "seg-2")] == [5]

        # A newer version whose labels need no review closes the waiting review of the older one.
        d.feed_annotated(make_annotated("seg-2", TEXT, version=6, needs_label_review=False))
        (closed,) = label_tasks(d, "seg-2")
        assert closed.state == events_pb2.TASK_STATE_DONE and closed.reasons == ["superseded by version 6"]


def test_annotated_message_without_its_ids_is_invalid(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        no_recording = make_annotated("seg-1", TEXT)
        no_recording.context.recording_id = ""
        with pytest.raises(InvalidMessage, match=r"context\.recording_id is required"):
            d.feed_annotated(no_recording)
        no_segment = make_annotated("", TEXT)
        with pytest.raises(InvalidMessage, match=r"segment\.segment_id is required"):
            d.feed_annotated(no_segment)
        assert label_tasks(d, "seg-1") == []


def test_the_service_subscribes_to_annotated_transcripts(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        topics = [s.topic for s in build(d.settings).subscriptions(d.ctx)]
        assert topics == [TRANSCRIPTS_QA.name, TRANSCRIPTS_ANNOTATED.name]
