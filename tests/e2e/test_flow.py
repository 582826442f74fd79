"""A message injected on audio.chunks.v1 travels through all six services over the real broker."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from protos import asr_pb2, asr_pb2_grpc, events_pb2, transcripts_pb2
from services.ingest.intake import segment_id_for
from shared.stack import stack
from shared.stack.demo import demo_chunk, trace_hops
from shared.stack.probe import collect, publish, publish_raw, segment_id_of
from shared.topics import (
    AUDIO_CHUNKS,
    BY_NAME,
    TRAINING_EXAMPLES,
    TRANSCRIPTS_VALIDATED,
)
from tests.e2e.conftest import grpc_port, service_db

pytestmark = pytest.mark.e2e

# Which topic each service consumes, and the state it records for a segment.
HOPS = {
    "ingest": ("audio.chunks.v1", "segmented"),
    "asr": ("audio.segments.v1", "drafted"),
    "quality": ("transcripts.draft.v1", "routed"),
    "dispatch": ("transcripts.qa.v1", "corrected"),
    "annotate": ("transcripts.corrected.v1", "validated"),
    "feedback": ("transcripts.validated.v1", "exported"),
}


def test_chunk_reaches_validated_with_every_hop_recorded(running_stack) -> None:  # type: ignore[no-untyped-def]
    chunk = demo_chunk(domain="medical")  # the policy sends medical to a person
    segment_id = segment_id_for(chunk.stream_id, 0)
    publish(
        running_stack.bootstrap,
        AUDIO_CHUNKS.name,
        [chunk],
        key=chunk.stream_id,
        trace_id=f"trace-{chunk.stream_id}",
    )

    received = collect(
        running_stack.bootstrap,
        [TRANSCRIPTS_VALIDATED.name, TRAINING_EXAMPLES.name],
        lambda rs: (
            {r.topic for r in rs if segment_id_of(r.message) == segment_id}
            >= {TRANSCRIPTS_VALIDATED.name, TRAINING_EXAMPLES.name}
        ),
        timeout_s=60,
    )
    mine = [r for r in received if segment_id_of(r.message) == segment_id]
    validated = [r for r in mine if r.topic == TRANSCRIPTS_VALIDATED.name]
    assert len(validated) == 1, "exactly one validated transcript for the chunk"
    message = validated[0].message
    assert isinstance(message, transcripts_pb2.ValidatedTranscript)
    assert message.context.recording_id == chunk.stream_id
    assert message.context.language_hint == "en"
    assert message.route == transcripts_pb2.ROUTE_HUMAN_REVIEW
    # The trace id set by the producer followed the message through every hop.
    assert {r.trace_id for r in mine} == {f"trace-{chunk.stream_id}"}

    # The state of each hop is in that service's own database.
    for service, (topic, state) in HOPS.items():
        db = service_db(running_stack, service)
        row = db.execute("SELECT state FROM segment_records WHERE segment_id = ?", (segment_id,)).fetchone()
        assert row == (state,), f"{service} recorded {row}, expected {state}"
        handled = db.execute(
            "SELECT count(*) FROM inbox WHERE topic = ? AND outcome = 'handled'", (topic,)
        ).fetchone()[0]
        assert handled >= 1, f"{service} has no inbox entry for {topic}"
        unsent = db.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
        assert unsent == 0, f"{service} left {unsent} outbox rows unsent"

    # ... and each service reports it over its own authenticated gRPC API.
    ports = {p.name: p.grpc_port for p in running_stack.services}
    hops = trace_hops(ports, stack.admin_token(Path(running_stack.home)), chunk.stream_id, segment_id)
    assert [h.service for h in hops if not h.found] == []


def test_task_events_published_for_the_human_review_route(running_stack) -> None:  # type: ignore[no-untyped-def]
    chunk = demo_chunk(domain="medical")  # the policy sends medical to a person
    segment_id = segment_id_for(chunk.stream_id, 0)
    publish(running_stack.bootstrap, AUDIO_CHUNKS.name, [chunk], key=chunk.stream_id)
    approved = events_pb2.TASK_STATE_APPROVED
    received = collect(
        running_stack.bootstrap,
        ["tasks.events.v1"],
        lambda rs: (
            sum(r.message.segment_id == segment_id and r.message.to_state == approved for r in rs) >= 2
        ),
        90,
    )
    mine = [r.message for r in received if r.message.segment_id == segment_id]
    by_task: dict[str, list[int]] = {}
    for event in mine:
        by_task.setdefault(event.task_id, []).append(event.to_state)
    s = events_pb2
    # The crew in ``running_stack`` corrects, then reviews: each step is an event. (A segment the
    # gate marks double-blind has two correction tasks, ":correct:1" and ":correct:2".)
    approved_corrections = [t for t in by_task if ":correct" in t and s.TASK_STATE_APPROVED in by_task[t]]
    assert approved_corrections, by_task
    assert by_task[approved_corrections[0]] == [
        s.TASK_STATE_QUEUED,
        s.TASK_STATE_CLAIMED,
        s.TASK_STATE_SUBMITTED,
        s.TASK_STATE_APPROVED,
    ]
    review = next(t for t in by_task if ":review:" in t)
    assert by_task[review] == [s.TASK_STATE_QUEUED, s.TASK_STATE_CLAIMED, s.TASK_STATE_APPROVED]
    actors = {e.actor for e in mine}
    assert {"sim-reviewer", "dispatch"} <= actors and any(a.startswith("sim-annotator") for a in actors)


# Topics off the main line: label reviews (dispatch <-> annotate).
SIDE_TOPICS = [("dispatch", "transcripts.annotated.v1"), ("annotate", "labels.reviewed.v1")]


@pytest.mark.parametrize(("service", "topic"), SIDE_TOPICS)
def test_malformed_label_messages_go_to_dead_letter(running_stack, service, topic) -> None:  # type: ignore[no-untyped-def]
    marker = f"garbage-for-{service}-{topic}".encode()
    publish_raw(running_stack.bootstrap, topic, b"\xff\xfe" + marker, key=marker)
    no_ids = BY_NAME[topic].message_type()
    no_ids.context.tenant_id = "acme"
    publish(running_stack.bootstrap, topic, [no_ids], key=marker.decode())
    letters = collect(
        running_stack.bootstrap,
        [topic + ".dlq"],
        lambda rs: sum(r.message.key == marker and r.message.service == service for r in rs) >= 2,
        60,
    )
    mine = [r.message for r in letters if r.message.key == marker and r.message.service == service]
    assert {m.error_type for m in mine} == {"decode", "validation"}
    assert all(m.source_topic == topic for m in mine)


@pytest.mark.parametrize("service", list(HOPS))
def test_malformed_message_goes_to_dead_letter_and_consumer_keeps_going(running_stack, service) -> None:  # type: ignore[no-untyped-def]
    topic, _ = HOPS[service]
    marker = f"garbage-for-{service}".encode()
    publish_raw(running_stack.bootstrap, topic, b"\xff\xfe" + marker, key=marker)
    # A well-formed message that breaks the contract (no ids) is dead-lettered too.
    no_ids = BY_NAME[topic].message_type()
    no_ids.context.tenant_id = "acme"  # every consumed message has a context; ids left empty
    publish(running_stack.bootstrap, topic, [no_ids], key=marker.decode())

    # Several services may consume one topic (qa: dispatch and annotate); each dead-letters on its own.
    def is_mine(letter: events_pb2.DeadLetter) -> bool:
        return letter.key == marker and letter.service == service

    letters = collect(
        running_stack.bootstrap, [topic + ".dlq"], lambda rs: sum(is_mine(r.message) for r in rs) >= 2, 60
    )
    mine = [r.message for r in letters if is_mine(r.message)]
    assert {m.error_type for m in mine} == {"decode", "validation"}
    for letter in mine:
        assert letter.source_topic == topic and letter.service == service
        assert letter.consumer_group == service
    decode = next(m for m in mine if m.error_type == "decode")
    assert decode.value == b"\xff\xfe" + marker, "the dead letter keeps the original bytes"
    assert "not a valid" in decode.reason
    validation = next(m for m in mine if m.error_type == "validation")
    assert "is required but empty" in validation.reason

    # The consumer is still consuming: a good chunk still gets all the way through.
    chunk = demo_chunk(domain="medical")  # the policy sends medical to a person
    segment_id = segment_id_for(chunk.stream_id, 0)
    publish(running_stack.bootstrap, AUDIO_CHUNKS.name, [chunk], key=chunk.stream_id)
    got = collect(
        running_stack.bootstrap,
        [TRAINING_EXAMPLES.name],
        lambda rs: any(r.message.segment_id == segment_id for r in rs),
        60,
    )
    assert any(r.message.segment_id == segment_id for r in got)


@pytest.mark.parametrize("service", list(HOPS))
def test_health_and_reflection(running_stack, service) -> None:  # type: ignore[no-untyped-def]
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port(running_stack, service)}") as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for reply in replies for s in reply.list_services_response.service}
    expected = f"voxloop.v1.{service.capitalize()}Service"
    assert expected in names
    assert "grpc.health.v1.Health" in names


def test_grpc_rejects_missing_token_and_answers_precise_codes(running_stack) -> None:  # type: ignore[no-untyped-def]
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port(running_stack, 'asr')}") as channel:
        stub = asr_pb2_grpc.AsrServiceStub(channel)
        with pytest.raises(grpc.RpcError) as no_token:
            stub.GetDraft(asr_pb2.GetDraftRequest(segment_id="x"), timeout=5)
        assert no_token.value.code() == grpc.StatusCode.UNAUTHENTICATED
        auth = (("authorization", f"Bearer {stack.admin_token(Path(running_stack.home))}"),)
        with pytest.raises(grpc.RpcError) as missing:
            stub.GetDraft(asr_pb2.GetDraftRequest(segment_id="no-such-segment"), metadata=auth, timeout=5)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as empty:
            stub.GetDraft(asr_pb2.GetDraftRequest(), metadata=auth, timeout=5)
        assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "segment_id" in (empty.value.details() or "")
