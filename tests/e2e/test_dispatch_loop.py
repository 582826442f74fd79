"""The whole human loop over the real broker: pyannote's sample is streamed, drafted by the real
ASR, sent to people by the quality gate (medical domain), corrected through the client library
with the reference text, sent back once by the reviewer, corrected again, approved, and
published on transcripts.corrected.v1 with its version history."""

from __future__ import annotations

import io
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from protos import dispatch_pb2, events_pb2, transcripts_pb2
from services.dispatch.client import DispatchClient
from shared.stack import stack
from shared.stack.demo import reference_answer, sample_reference, stream_sample_to_people
from shared.stack.probe import collect, segment_id_of
from shared.stack.processes import StackState
from shared.text import normalise_text
from shared.topics import TRANSCRIPTS_CORRECTED
from tests.e2e.conftest import grpc_port

pytestmark = pytest.mark.e2e


def claim_when_ready(client: DispatchClient, timeout_s: float = 30.0) -> dispatch_pb2.Task | None:
    """Dispatch reads the verdict from the broker on its own time: ask until a task is there."""
    deadline = time.monotonic() + timeout_s
    while (task := client.claim_next()) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    return task


@pytest.fixture(scope="module")
def loop_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    home = tmp_path_factory.mktemp("stack")
    state = stack.up(home, stack.StackPorts.free(), services=("ingest", "asr", "quality", "dispatch"))
    yield state
    stack.down(home)


def test_sample_corrected_reviewed_and_published_with_history(loop_stack: StackState) -> None:
    target = f"127.0.0.1:{grpc_port(loop_stack, 'dispatch')}"
    admin = DispatchClient(target, stack.admin_token(Path(loop_stack.home)))
    admin.upsert_user("ana", ["annotator"], ["en"], ["medical"])
    admin.upsert_user("rui", ["reviewer"], ["en"], ["medical"])
    ana = DispatchClient(target, admin.issue_token("ana").token)
    rui = DispatchClient(target, admin.issue_token("rui").token)

    stream_id = "clinic-call"
    routed = [r.message for r in stream_sample_to_people(loop_stack.bootstrap, stream_id, timeout_s=180)]
    assert all(v.route == transcripts_pb2.ROUTE_HUMAN_REVIEW for v in routed), "medical always goes to people"

    answer = reference_answer(sample_reference())
    task = claim_when_ready(ana)
    assert task is not None and task.segment.segment_id.startswith(stream_id)
    assert task.verdict.risk_tier and task.guidelines_url
    with wave.open(io.BytesIO(ana.audio(task.task_id))) as wav:
        heard_s = wav.getnframes() / wav.getframerate()
    assert abs(heard_s - (task.segment.end_s - task.segment.start_s)) < 0.1, "the audio is the segment's span"
    reference = answer(task)
    first = ana.submit_text(task, reference + " um")  # a slip the reviewer catches

    review = claim_when_ready(rui)
    assert review is not None and review.kind == events_pb2.TASK_KIND_REVIEW
    assert "+[um]" in review.diff
    rui.review(review.task_id, approve=False, reasons=["stray filler at the end"])

    again = claim_when_ready(ana)
    assert again is not None and again.task_id == task.task_id
    assert list(again.review_reasons) == ["stray filler at the end"]
    assert again.version == task.version + 1, "work resumes from the rejected correction"
    assert first.state == events_pb2.TASK_STATE_SUBMITTED
    ana.submit_text(again, reference)
    final_review = claim_when_ready(rui)
    assert final_review is not None
    rui.review(final_review.task_id, approve=True)

    segment_id = task.segment.segment_id
    corrected = collect(
        loop_stack.bootstrap,
        [TRANSCRIPTS_CORRECTED.name],
        lambda rs: any(segment_id_of(r.message) == segment_id for r in rs),
        60,
    )
    mine = [r.message for r in corrected if segment_id_of(r.message) == segment_id]
    assert len(mine) == 1
    message: transcripts_pb2.CorrectedTranscript = mine[0]  # type: ignore[assignment]
    assert normalise_text(message.segment.text, "en") == normalise_text(reference, "en")
    assert message.corrected_by == "ana" and message.reviewed_by == "rui"
    assert [v.kind for v in message.history] == ["draft", "correction", "correction", "review"]
    assert message.version == message.history[-1].version
    assert message.draft.text == task.segment.text, "the machine's draft travels along for WER"
    assert message.verdict.route == transcripts_pb2.ROUTE_HUMAN_REVIEW

    history = admin.history(segment_id)
    assert [v.author for v in history.versions][1:] == ["ana", "ana", "rui"]
    assert "-[um]" in history.versions[2].diff
    trail = admin.audit_trail(task_id=task.task_id)
    assert {e.action for e in trail} >= {
        "created",
        "ClaimNextTask",
        "SubmitCorrection",
        "rejected",
        "approved",
    }
