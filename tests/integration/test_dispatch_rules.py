"""Who gets which task, and what happens to it, through dispatch's real gRPC API on SQLite and
PostgreSQL: leases, skips, escalations, the rejection loop, tiers, double-blind pairs, gold audits
and the corrections the service refuses."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select

from protos import common_pb2, dispatch_pb2, events_pb2, transcripts_pb2
from services.dispatch import queue
from services.dispatch.client import DispatchClient, DispatchError
from services.dispatch.store import AuditRow, DispatchTask
from shared.topics import TRANSCRIPTS_CORRECTED
from tests.dispatch_harness import DispatchHarness, make_verdict, running_dispatch

pytestmark = pytest.mark.integration

CORRECT = events_pb2.TASK_KIND_CORRECT
REVIEW = events_pb2.TASK_KIND_REVIEW
QA_SAMPLE = events_pb2.TASK_KIND_QA_SAMPLE


def refusal(call: object, *args: object, **kwargs: object) -> DispatchError:
    """The DispatchError a client call raises (the test fails if it succeeds)."""
    with pytest.raises(DispatchError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


def expire_leases(d: DispatchHarness, now: float | None = None) -> int:
    """One tick of the service's lease ticker (the in-process harness runs none), at ``now``."""
    with d.ctx.unit_of_work() as (session, outbound):
        events = queue.expire_leases(session, now)
        outbound += events
    return len(events)


def corrected(d: DispatchHarness) -> list[transcripts_pb2.CorrectedTranscript]:
    return d.published(TRANSCRIPTS_CORRECTED.name)  # type: ignore[return-value]


def tasks_of(d: DispatchHarness, segment_id: str) -> list[DispatchTask]:
    with d.ctx.sessions() as session:
        return list(
            session.scalars(
                select(DispatchTask)
                .where(DispatchTask.segment_id == segment_id)
                .order_by(DispatchTask.created_at)
            )
        )


def audit_rows(d: DispatchHarness, action: str, task_id: str = "") -> list[AuditRow]:
    with d.ctx.sessions() as session:
        query = select(AuditRow).where(AuditRow.action == action).order_by(AuditRow.entry_id)
        if task_id:
            query = query.where(AuditRow.task_id == task_id)
        return list(session.scalars(query))


def claim(client: DispatchClient, *kinds: events_pb2.TaskKind.ValueType) -> dispatch_pb2.Task:
    task = client.claim_next(kinds)
    assert task is not None, "expected a task to claim"
    return task


# -- leases -----------------------------------------------------------------------------------


def test_lapsed_lease_returns_the_task_to_the_queue(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path, lease_s=0.5) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        bob = d.person("bob", ["annotator"], ["en"])
        d.feed(make_verdict("seg-1"))
        task = claim(anna)
        lease_end = task.lease_expires_at.ToNanoseconds() / 1e9
        assert expire_leases(d, now=lease_end - 0.1) == 0  # still within its lease
        time.sleep(0.6)

        # Lapsed but not yet swept: the holder is already refused.
        lapsed = refusal(anna.heartbeat, task.task_id)
        assert lapsed.code == grpc.StatusCode.FAILED_PRECONDITION and "lapsed" in lapsed.message

        assert expire_leases(d) == 1
        (row,) = tasks_of(d, "seg-1")
        assert row.state == events_pb2.TASK_STATE_QUEUED and row.assignee == ""
        for call in (lambda: anna.submit_text(task, "hello there"), lambda: anna.heartbeat(task.task_id)):
            assert refusal(call).code == grpc.StatusCode.FAILED_PRECONDITION

        again = claim(bob)
        assert again.task_id == task.task_id and again.assignee == "bob"
        assert bob.submit_text(again, "hello there this is the test").state == events_pb2.TASK_STATE_SUBMITTED

        (expiry,) = audit_rows(d, "lease_expired", task.task_id)
        assert expiry.allowed and expiry.actor == "dispatch"
        assert json.loads(expiry.before)["state"] == "TASK_STATE_CLAIMED"
        assert json.loads(expiry.before)["assignee"] == "anna"
        assert json.loads(expiry.after)["state"] == "TASK_STATE_QUEUED"


def test_heartbeat_extends_the_lease(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path, lease_s=5.0) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        d.feed(make_verdict("seg-1"))
        task = claim(anna)
        first_lease = task.lease_expires_at.ToNanoseconds() / 1e9
        time.sleep(0.3)
        beat = anna.heartbeat(task.task_id)
        extended = beat.lease_expires_at.ToNanoseconds() / 1e9
        assert extended >= first_lease + 0.3 and beat.assignee == "anna"
        # A sweep past the first lease but within the extended one leaves the claim alone.
        assert expire_leases(d, now=first_lease + 0.1) == 0
        (row,) = tasks_of(d, "seg-1")
        assert row.state == events_pb2.TASK_STATE_CLAIMED and row.lease_expires_at == pytest.approx(extended)
        (audited,) = audit_rows(d, "Heartbeat", task.task_id)
        assert json.loads(audited.after)["lease_expires_at"] > json.loads(audited.before)["lease_expires_at"]
        assert anna.submit_text(task, "hello there").state == events_pb2.TASK_STATE_SUBMITTED


# -- skip and escalate ------------------------------------------------------------------------


def test_skipped_task_goes_to_someone_else(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        bob = d.person("bob", ["annotator"], ["en"])
        d.feed(make_verdict("seg-1"))
        task = claim(anna)
        skipped = anna.skip(task.task_id, "not my accent")
        assert skipped.state == events_pb2.TASK_STATE_QUEUED and skipped.assignee == ""
        assert anna.claim_next() is None
        assert [t.task_id for t in anna.queue()] == []
        assert [t.task_id for t in bob.queue()] == [task.task_id]
        assert claim(bob).task_id == task.task_id


def test_escalation_goes_to_a_senior(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        bob = d.person("bob", ["annotator"], ["en"])
        sam = d.person("sam", ["senior"], ["en"])
        rita = d.person("rita", ["reviewer"], ["en"])
        d.feed(make_verdict("seg-1"))
        task = claim(anna)

        for reason in ("", "   "):
            assert refusal(anna.escalate, task.task_id, reason).code == grpc.StatusCode.INVALID_ARGUMENT
        escalated = anna.escalate(task.task_id, "two speakers overlap; unclear")
        assert escalated.state == events_pb2.TASK_STATE_ESCALATED and escalated.tier == "senior"
        assert escalated.assignee == ""
        assert anna.claim_next() is None and bob.claim_next() is None
        assert sam.claim_next([REVIEW]) is None

        senior = claim(sam)
        assert senior.task_id == task.task_id and senior.kind == CORRECT
        assert senior.tier == "senior" and list(senior.review_reasons) == ["two speakers overlap; unclear"]
        sam.submit_text(senior, "hello there this is the test")
        review = claim(rita)
        assert review.kind == REVIEW and review.segment.text == "hello there this is the test"
        rita.review(review.task_id, approve=True)
        (message,) = corrected(d)
        assert message.corrected_by == "sam" and message.reviewed_by == "rita"


# -- the rejection loop -----------------------------------------------------------------------


def test_rejections_loop_then_escalate_then_publish_once(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path, max_rejections=1) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        rita = d.person("rita", ["reviewer"], ["en"])
        sam = d.person("sam", ["senior"], ["en"])
        d.feed(make_verdict("seg-1", "hello there this is a test"))

        task = claim(anna)
        anna.submit_text(task, "hello there this is the test")  # version 2
        review = claim(rita)
        assert review.version == 2
        for reasons in ([], ["  "]):
            error = refusal(rita.review, review.task_id, False, reasons)
            assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        rita.review(review.task_id, approve=False, reasons=["misheard name"])

        again = claim(anna)
        assert again.task_id == task.task_id and again.state == events_pb2.TASK_STATE_CLAIMED
        assert list(again.review_reasons) == ["misheard name"] and again.rejections == 1
        assert again.version == 2 and again.segment.text == "hello there this is the test"
        anna.submit_text(again, "hello there this is the best")  # version 3
        second = claim(rita)
        assert second.version == 3 and second.task_id != review.task_id
        rita.review(second.task_id, approve=False, reasons=["still wrong", "speaker missing"])

        # One more rejection than allowed: the correction waits for a senior.
        (row,) = [t for t in tasks_of(d, "seg-1") if t.kind == CORRECT]
        assert row.state == events_pb2.TASK_STATE_ESCALATED and row.tier == "senior"
        assert row.base_version == 3 and row.rejections == 2
        assert anna.claim_next() is None
        escalation = audit_rows(d, "rejected", task.task_id)[-1]
        fields = ("state", "tier", "rejections", "base_version")
        before, after = (json.loads(getattr(escalation, side)) for side in ("before", "after"))
        assert [before[f] for f in fields] == ["TASK_STATE_SUBMITTED", "annotator", 1, 2]
        assert [after[f] for f in fields] == ["TASK_STATE_ESCALATED", "senior", 2, 3]

        senior = claim(sam)
        assert senior.task_id == task.task_id and senior.version == 3
        assert list(senior.review_reasons) == ["still wrong; speaker missing"]
        assert corrected(d) == []
        sam.submit_text(senior, "hello there, this is the best")  # version 4
        final = claim(rita)
        assert final.version == 4
        rita.review(final.task_id, approve=True)  # version 5

        (message,) = corrected(d)
        assert [(v.version, v.kind) for v in message.history] == [
            (1, "draft"),
            (2, "correction"),
            (3, "correction"),
            (4, "correction"),
            (5, "review"),
        ]
        assert message.version == 5 and message.segment.text == "hello there, this is the best"
        assert message.corrected_by == "sam" and message.reviewed_by == "rita"
        assert [v.author for v in d.admin.history("seg-1").versions] == ["asr", "anna", "anna", "sam", "rita"]


# -- tiers ------------------------------------------------------------------------------------


def test_each_tier_gets_only_its_own_tasks(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path, qa_sample_rate=1.0) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        rita = d.person("rita", ["reviewer"], ["en"])
        quinn = d.person("quinn", ["qa_lead"], ["en"])
        sam = d.person("sam", ["senior"], ["en"])
        d.feed(make_verdict("seg-1"))

        assert rita.claim_next() is None and quinn.claim_next() is None and sam.claim_next() is None
        task = claim(anna)
        anna.submit_text(task, "hello there this is the test")
        assert anna.claim_next() is None and anna.claim_next([REVIEW]) is None
        assert quinn.claim_next() is None
        review = claim(rita)
        assert review.kind == REVIEW
        rita.review(review.task_id, approve=True)
        assert len(corrected(d)) == 1

        # The QA sample is the qa_lead's alone.
        assert anna.claim_next() is None and rita.claim_next() is None and sam.claim_next() is None
        sample = claim(quinn)
        assert sample.kind == QA_SAMPLE and sample.tier == "qa_lead" and sample.version == 3
        assert refusal(quinn.review, sample.task_id, False, []).code == grpc.StatusCode.INVALID_ARGUMENT
        quinn.review(sample.task_id, approve=False, reasons=["name misspelt"])

        # QA rejection reopens the published segment for a senior, never for its annotator.
        assert anna.claim_next() is None and rita.claim_next() is None
        reopened = claim(sam)
        assert reopened.task_id == task.task_id and reopened.tier == "senior"
        assert list(reopened.review_reasons) == ["QA: name misspelt"] and reopened.version == 3
        sam.submit_text(reopened, "hello there this is the best")
        rita.review(claim(rita, REVIEW).task_id, approve=True)
        first, second = corrected(d)
        assert second.version > first.version and second.segment.text == "hello there this is the best"
        assert second.corrected_by == "sam"


def test_reviewer_never_gets_correction_tasks(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        rita = d.person("rita", ["reviewer"], ["en"])
        d.feed(make_verdict("seg-1"))
        assert rita.claim_next() is None and rita.claim_next([CORRECT]) is None
        assert rita.queue() == []
        (task,) = tasks_of(d, "seg-1")
        error = refusal(rita.get_task, task.task_id)
        assert error.code == grpc.StatusCode.PERMISSION_DENIED and "annotator" in error.message


# -- double-blind and gold --------------------------------------------------------------------


def test_double_blind_pair_goes_to_two_people(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        bob = d.person("bob", ["annotator"], ["en"])
        rita = d.person("rita", ["reviewer"], ["en"])
        d.feed(make_verdict("seg-1", "hello there this is a test", double_blind=True))
        assert sorted(t.task_id for t in tasks_of(d, "seg-1")) == ["seg-1:correct:1", "seg-1:correct:2"]

        first = claim(anna)
        assert anna.claim_next() is None  # the other half is not hers to take
        second = claim(bob)
        assert {first.task_id, second.task_id} == {"seg-1:correct:1", "seg-1:correct:2"}
        assert first.verdict.double_blind and second.verdict.double_blind
        anna.submit_text(first, "hello there this is the test")  # version 2
        assert anna.claim_next() is None
        bob.submit_text(second, "hello there this is a quiz")  # version 3

        # Sending anna's half back gives her own correction to work from, not bob's.
        anna_review = claim(rita)
        assert anna_review.version == 2 and anna_review.segment.text == "hello there this is the test"
        rita.review(anna_review.task_id, approve=False, reasons=["'the' is 'a'"])
        back = claim(anna)
        assert back.task_id == first.task_id
        assert back.version == 2 and back.segment.text == "hello there this is the test"
        anna.submit_text(back, "hello there this is a test")  # version 4

        texts = {}
        while (review := rita.claim_next([REVIEW])) is not None:
            texts[review.version] = review.segment.text
            rita.review(review.task_id, approve=True)
        assert texts == {3: "hello there this is a quiz", 4: "hello there this is a test"}

        messages = corrected(d)
        assert len(messages) == 2 and all(m.verdict.double_blind for m in messages)
        assert len({m.version for m in messages}) == 2
        by_author = {m.corrected_by: m for m in messages}
        assert by_author["bob"].segment.text == "hello there this is a quiz"
        assert by_author["anna"].segment.text == "hello there this is a test"
        assert {m.task_id for m in messages} == {"seg-1:correct:1", "seg-1:correct:2"}


def test_gold_audit_looks_ordinary_and_skips_review(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        rita = d.person("rita", ["reviewer"], ["en"])
        d.feed(make_verdict("gold-1", recording_id="rec-g", gold=True, double_blind=True))
        d.feed(make_verdict("plain-1", recording_id="rec-p"))
        (gold_row,) = tasks_of(d, "gold-1")  # a gold audit is never split in two
        (plain_row,) = tasks_of(d, "plain-1")
        gold_task, plain_task = (d.admin.get_task(r.task_id) for r in (gold_row, plain_row))
        for shown in (gold_task, next(t for t in anna.queue() if t.task_id == gold_row.task_id)):
            assert shown.verdict.gold is False and shown.verdict.double_blind is False
            assert shown.priority == plain_task.priority and shown.tier == plain_task.tier
            assert shown.kind == plain_task.kind and shown.task_id == "gold-1:correct"

        task = claim(anna)  # fed first, so first in the queue
        assert task.task_id == gold_row.task_id and task.verdict.gold is False
        done = anna.submit_text(task, "hello there this is the test")
        assert done.state == events_pb2.TASK_STATE_DONE
        (message,) = corrected(d)
        assert message.verdict.gold is True and message.corrected_by == "anna" and message.reviewed_by == ""
        assert message.segment.text == "hello there this is the test"
        assert [t.kind for t in tasks_of(d, "gold-1")] == [CORRECT]
        assert rita.claim_next() is None


# -- wrong input ------------------------------------------------------------------------------


def _words(task: dispatch_pb2.Task) -> common_pb2.TranscriptSegment:
    segment = common_pb2.TranscriptSegment()
    segment.CopyFrom(task.segment)
    return segment


def test_word_outside_the_segment_is_refused_by_name(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        d.feed(make_verdict("seg-1", "hello there this is a test"))  # 0.0-2.4 s
        task = claim(anna)
        segment = _words(task)
        segment.words[5].text = "zebra"
        segment.words[5].start_s, segment.words[5].end_s = 9.0, 9.3
        error = refusal(anna.submit, task, segment)
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "'zebra'" in error.message and "outside" in error.message

        (denied,) = [r for r in audit_rows(d, "SubmitCorrection") if not r.allowed]
        assert denied.outcome == "INVALID_ARGUMENT" and denied.task_id == task.task_id
        assert tasks_of(d, "seg-1")[0].state == events_pb2.TASK_STATE_CLAIMED  # nothing changed


def test_words_out_of_order_are_refused_by_name(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        d.feed(make_verdict("seg-1", "hello there this is a test"))
        task = claim(anna)
        segment = _words(task)
        segment.words[3].text = "swapped"
        segment.words[3].start_s, segment.words[3].end_s = 0.1, 0.2  # before words[2]
        error = refusal(anna.submit, task, segment)
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "'swapped'" in error.message and "words[3]" in error.message
        segment.words[3].start_s, segment.words[3].end_s = 1.2, 1.55
        assert anna.submit(task, segment).state == events_pb2.TASK_STATE_SUBMITTED


def test_stale_base_version_is_aborted(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        rita = d.person("rita", ["reviewer"], ["en"])
        d.feed(make_verdict("seg-1"))
        stale = claim(anna)
        anna.submit_text(stale, "hello there this is the test")
        rita.review(claim(rita).task_id, approve=False, reasons=["missing comma"])
        fresh = claim(anna)
        assert fresh.version == 2 and stale.version == 1
        error = refusal(anna.submit_text, stale, "hello there, this is the test")
        assert error.code == grpc.StatusCode.ABORTED and "version 2" in error.message
        (denied,) = [r for r in audit_rows(d, "SubmitCorrection") if not r.allowed]
        assert denied.outcome == "ABORTED"
        assert (
            anna.submit_text(fresh, "hello there, this is the test").state == events_pb2.TASK_STATE_SUBMITTED
        )


def test_both_halves_of_a_pair_submitted_at_the_same_moment(db_url: str, tmp_path: Path) -> None:
    """Both submits add a version of one segment: neither may take the other's number (this
    failed 20 times in 20 on PostgreSQL before the segment row was locked)."""
    with running_dispatch(db_url, tmp_path) as d:
        ann, bob = d.person("ann", ["annotator"], ["en"]), d.person("bob", ["annotator"], ["en"])
        for i in range(5):
            d.feed(make_verdict(f"pair-{i}", double_blind=True))
            held = [(ann, ann.claim_next()), (bob, bob.claim_next())]
            barrier = threading.Barrier(2)
            errors: list[str] = []

            def submit(
                client: DispatchClient,
                task: dispatch_pb2.Task | None,
                barrier: threading.Barrier,
                errors: list[str],
            ) -> None:
                assert task is not None
                barrier.wait()
                try:
                    client.submit_text(task, "hello there this is the test")
                except DispatchError as exc:
                    errors.append(str(exc))

            threads = [threading.Thread(target=submit, args=(c, t, barrier, errors)) for c, t in held]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == []
            versions = [v.version for v in d.admin.history(f"pair-{i}").versions]
            assert versions == [1, 2, 3]
