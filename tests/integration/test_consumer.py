"""The consumer loop against the real broker and both databases: idempotency, retries, DLQ."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protos import audio_pb2
from shared.db import InboxEntry, make_engine, make_session_factory, upgrade
from shared.kafka import codec
from shared.kafka.admin import ensure_topics
from shared.kafka.consumer import ConsumerConfig, ConsumerWorker, Inbound, InvalidMessage, Subscription
from shared.kafka.outbox import Outbound, OutboxRelay, make_producer
from shared.stack.probe import collect, publish_raw

pytestmark = pytest.mark.integration


def setting(db_url: str, broker: str) -> tuple[str, str, str, sessionmaker[Session]]:
    """A run id, the (shared) source topic and this run's sink, and a migrated database."""
    run = uuid.uuid4().hex[:8]
    source, sink = "audio.chunks.v1", f"test.sink.{run}"
    ensure_topics(broker, [source, source + ".dlq", sink])
    engine = make_engine(db_url)
    upgrade(engine)
    return run, source, sink, make_session_factory(engine)


def test_duplicates_are_skipped_and_failures_dead_lettered(db_url: str, broker: str) -> None:
    run, source, sink, sessions = setting(db_url, broker)
    calls: list[str] = []

    def handler(session: Session, inbound: Inbound[audio_pb2.AudioChunk]) -> Sequence[Outbound]:
        chunk = inbound.message
        if not chunk.stream_id.startswith(run):
            return []  # another test's message on the shared topic
        calls.append(chunk.stream_id)
        if chunk.stream_id.endswith("invalid"):
            raise InvalidMessage("stream says it is invalid")
        if chunk.stream_id.endswith("crash"):
            raise RuntimeError("handler bug")
        return [Outbound(sink, chunk, key=chunk.stream_id)]

    producer = make_producer(broker, "test")
    relay = OutboxRelay(sessions, producer, "test", "test-0", poll_interval_s=0.05)
    worker = ConsumerWorker(
        ConsumerConfig(
            bootstrap=broker, group_id=f"group-{run}", service="test", instance_id="0", max_attempts=2
        ),
        [Subscription(source, handler)],
        sessions,
        outbox=relay,
    )
    relay.start()
    worker.start()
    try:
        good = audio_pb2.AudioChunk(stream_id=f"{run}-good", data=b"x")
        same_id = codec.make_headers(good, f"{run}-m1", "t", "test")
        for _ in range(2):  # the same message delivered twice
            producer.send(source, value=codec.encode(good), headers=same_id)
        for suffix in ("invalid", "crash"):
            bad = audio_pb2.AudioChunk(stream_id=f"{run}-{suffix}", data=b"x")
            producer.send(
                source,
                value=codec.encode(bad),
                headers=codec.make_headers(bad, f"{run}-{suffix}", "t", "test"),
            )
        producer.flush()
        publish_raw(broker, source, b"\x0a\xff\xff" + run.encode(), key=run.encode())
        after = audio_pb2.AudioChunk(stream_id=f"{run}-after", data=b"x")
        producer.send(
            source, value=codec.encode(after), headers=codec.make_headers(after, f"{run}-m2", "t", "test")
        )
        producer.flush()

        outputs = collect(
            broker, [sink], lambda rs: len(rs) >= 2, timeout_s=45, decode_as=audio_pb2.AudioChunk
        )
        letters = collect(
            broker,
            [source + ".dlq"],
            lambda rs: sum(run.encode() in r.message.value for r in rs) >= 3,
            timeout_s=45,
        )
    finally:
        worker.stop()
        relay.stop()
        producer.close()

    assert sorted(r.message.stream_id for r in outputs) == [f"{run}-after", f"{run}-good"]
    assert calls.count(f"{run}-good") == 1, "the duplicate never reached the handler"
    assert calls.count(f"{run}-crash") == 2, "a failing handler is retried max_attempts times"
    mine = {r.message.error_type: r.message for r in letters if run.encode() in r.message.value}
    assert set(mine) == {"decode", "validation", "handler"}
    assert "RuntimeError: handler bug" in mine["handler"].reason and mine["handler"].attempts == 2
    assert mine["validation"].reason == "stream says it is invalid"
    with sessions() as s:
        outcomes = dict(
            s.execute(
                select(InboxEntry.message_id, InboxEntry.outcome).where(InboxEntry.group_id == f"group-{run}")
            ).all()
        )
    assert outcomes[f"{run}-m1"] == "handled" and outcomes[f"{run}-crash"] == "dead_lettered"


def test_a_batch_handler_takes_a_poll_in_one_transaction_and_falls_back_record_by_record(
    db_url: str, broker: str
) -> None:
    run, source, sink, sessions = setting(db_url, broker)
    single_calls: list[str] = []
    batch_calls: list[list[str]] = []

    def output(chunk: audio_pb2.AudioChunk) -> list[Outbound]:
        return [Outbound(sink, chunk, key=chunk.stream_id)] if chunk.stream_id.startswith(run) else []

    def handler(session: Session, inbound: Inbound[audio_pb2.AudioChunk]) -> Sequence[Outbound]:
        if inbound.message.stream_id.startswith(run):
            single_calls.append(inbound.message.stream_id)
        if inbound.message.stream_id == f"{run}-invalid":
            raise InvalidMessage("this one is bad")
        return output(inbound.message)

    def batch_handler(
        session: Session, inbounds: Sequence[Inbound[audio_pb2.AudioChunk]]
    ) -> list[list[Outbound]]:
        batch_calls.append([i.message.stream_id for i in inbounds if i.message.stream_id.startswith(run)])
        if any(i.message.stream_id == f"{run}-invalid" for i in inbounds):
            raise InvalidMessage("one of the batch is bad")
        return [output(i.message) for i in inbounds]

    producer = make_producer(broker, "test")
    relay = OutboxRelay(sessions, producer, "test", "test-0", poll_interval_s=0.05)
    relay.start()

    def send(stream_id: str, message_id: str) -> None:
        chunk = audio_pb2.AudioChunk(stream_id=f"{run}-{stream_id}", data=b"x")
        headers = codec.make_headers(chunk, message_id, "t", "t")
        # One key: one partition, so the records come in one poll.
        producer.send(source, key=run.encode(), value=codec.encode(chunk), headers=headers)

    def consume_until(outputs: int, dead_letter: bool = False) -> None:
        worker = ConsumerWorker(
            ConsumerConfig(bootstrap=broker, group_id=f"group-{run}", service="test", instance_id="0"),
            [Subscription(source, handler, batch_handler)],
            sessions,
            outbox=relay,
        )
        worker.start()
        try:
            collect(broker, [sink], lambda rs: len(rs) >= outputs, 45, decode_as=audio_pb2.AudioChunk)
            if dead_letter:
                collect(
                    broker, [source + ".dlq"], lambda rs: any(run.encode() in r.message.value for r in rs), 45
                )
        finally:
            worker.stop()

    try:
        # Already waiting when the consumer starts: one poll, one batch, one transaction.
        for stream_id, message_id in (("a", "m-a"), ("b", "m-b"), ("a", "m-a"), ("c", "m-c")):
            send(stream_id, f"{run}-{message_id}")
        producer.flush()
        consume_until(outputs=3)
        assert [f"{run}-a", f"{run}-b", f"{run}-c"] in batch_calls, "the redelivered a counted once"
        assert single_calls == []
        # A batch with a bad record is rolled back and taken record by record.
        for stream_id in ("d", "invalid", "e"):
            send(stream_id, f"{run}-m-{stream_id}")
        producer.flush()
        consume_until(outputs=5, dead_letter=True)
    finally:
        relay.stop()
        producer.close()

    assert [f"{run}-d", f"{run}-invalid", f"{run}-e"] in batch_calls
    assert single_calls == [f"{run}-d", f"{run}-invalid", f"{run}-e"]
    outputs = collect(broker, [sink], lambda rs: len(rs) >= 5, timeout_s=10, decode_as=audio_pb2.AudioChunk)
    assert sorted(r.message.stream_id for r in outputs) == [f"{run}-{s}" for s in "abcde"]  # each once
    with sessions() as s:
        outcomes = dict(
            s.execute(
                select(InboxEntry.message_id, InboxEntry.outcome).where(InboxEntry.group_id == f"group-{run}")
            ).all()
        )
    mine = {k: v for k, v in outcomes.items() if k.startswith(f"{run}-m-")}  # the topic is shared
    assert mine == {**{f"{run}-m-{x}": "handled" for x in "abcde"}, f"{run}-m-invalid": "dead_lettered"}


def test_a_prepare_hook_sees_the_next_poll_before_the_current_one_is_handled(
    db_url: str, broker: str
) -> None:
    run, source, sink, sessions = setting(db_url, broker)
    events: list[tuple[str, list[str]]] = []  # ("prepare" | "handle", the run's stream ids)

    def mine(inbounds: Sequence[Inbound[audio_pb2.AudioChunk]]) -> list[str]:
        return [i.message.stream_id for i in inbounds if i.message.stream_id.startswith(run)]

    def prepare(inbounds: Sequence[Inbound[audio_pb2.AudioChunk]]) -> None:
        events.append(("prepare", mine(inbounds)))
        if f"{run}-07" in mine(inbounds):
            raise RuntimeError("a prepare that fails costs only its head start")

    def batch_handler(
        session: Session, inbounds: Sequence[Inbound[audio_pb2.AudioChunk]]
    ) -> list[list[Outbound]]:
        events.append(("handle", mine(inbounds)))
        return [
            [Outbound(sink, i.message, key=run)] if i.message.stream_id.startswith(run) else []
            for i in inbounds
        ]

    def handler(session: Session, inbound: Inbound[audio_pb2.AudioChunk]) -> list[Outbound]:
        return batch_handler(session, [inbound])[0]

    producer = make_producer(broker, "test")
    relay = OutboxRelay(sessions, producer, "test", "test-0", poll_interval_s=0.05)
    worker = ConsumerWorker(
        ConsumerConfig(
            bootstrap=broker, group_id=f"group-{run}", service="test", instance_id="0", max_poll_records=4
        ),
        [Subscription(source, handler, batch_handler, prepare)],
        sessions,
        outbox=relay,
    )
    try:
        ids = [f"{run}-{n:02d}" for n in range(20)]
        for n, stream_id in enumerate(ids):  # one key: one partition, in order; waiting before the start
            chunk = audio_pb2.AudioChunk(stream_id=stream_id, data=b"x")
            producer.send(
                source,
                key=run.encode(),
                value=codec.encode(chunk),
                headers=codec.make_headers(chunk, stream_id, "t", "t"),
            )
            if n == 10:
                producer.flush()
                publish_raw(broker, source, b"\x0a\xff\xff" + run.encode(), key=run.encode())
        producer.flush()
        relay.start()
        worker.start()
        outputs = collect(
            broker, [sink], lambda rs: len(rs) >= 20, timeout_s=45, decode_as=audio_pb2.AudioChunk
        )
        collect(broker, [source + ".dlq"], lambda rs: any(run.encode() in r.message.value for r in rs), 45)
    finally:
        worker.stop()
        relay.stop()
        producer.close()

    assert sorted(r.message.stream_id for r in outputs) == ids, (
        "every record handled once, failing prepare too"
    )
    handled = [stream_id for kind, batch in events if kind == "handle" for stream_id in batch]
    assert handled == ids, "in order, each once; the undecodable record reached neither hook"
    prepared_at = {s: n for n, (kind, batch) in enumerate(events) if kind == "prepare" for s in batch}
    handled_at = {s: n for n, (kind, batch) in enumerate(events) if kind == "handle" for s in batch}
    assert all(prepared_at[s] < handled_at[s] for s in ids), "each record was prepared before it was handled"
    lookahead = [
        s for s in ids if any(prepared_at[t] < handled_at[s] for t in ids if t > s and t in prepared_at)
    ]
    assert lookahead, "some later poll was prepared before an earlier one was handled"


def test_a_linger_hook_waits_for_the_rest_of_a_burst_and_records_know_what_waits_behind_them(
    db_url: str, broker: str
) -> None:
    run, source, sink, sessions = setting(db_url, broker)
    batches: list[list[tuple[str, int]]] = []  # each handled batch of this run's: (stream id, behind)

    def mine(inbounds: Sequence[Inbound[audio_pb2.AudioChunk]]) -> list[Inbound[audio_pb2.AudioChunk]]:
        return [i for i in inbounds if i.message.stream_id.startswith(run)]

    def linger(inbounds: Sequence[Inbound[audio_pb2.AudioChunk]]) -> bool:
        return bool(mine(inbounds)) and not mine(inbounds)[-1].message.final  # a burst ends when final

    def batch_handler(
        session: Session, inbounds: Sequence[Inbound[audio_pb2.AudioChunk]]
    ) -> list[list[Outbound]]:
        if mine(inbounds):
            batches.append([(i.message.stream_id.removeprefix(run), i.behind) for i in mine(inbounds)])
        return [[Outbound(sink, i.message, key=run)] if i in mine(inbounds) else [] for i in inbounds]

    def handler(session: Session, inbound: Inbound[audio_pb2.AudioChunk]) -> list[Outbound]:
        return batch_handler(session, [inbound])[0]

    def send(stream_id: str, final: bool = False) -> None:
        chunk = audio_pb2.AudioChunk(stream_id=run + stream_id, data=b"x", final=final)
        producer.send(
            source,
            key=run.encode(),
            value=codec.encode(chunk),
            headers=codec.make_headers(chunk, run + stream_id, "t", "t"),
        )
        producer.flush()

    producer = make_producer(broker, "test")
    relay = OutboxRelay(sessions, producer, "test", "test-0", poll_interval_s=0.05)
    worker = ConsumerWorker(
        ConsumerConfig(
            bootstrap=broker, group_id=f"group-{run}", service="test", instance_id="0", max_poll_records=6
        ),
        [Subscription(source, handler, batch_handler, linger=linger, linger_s=1.5)],
        sessions,
        outbox=relay,
    )
    try:
        for n in range(8):  # waiting before the start: a poll of 6 has 2 more behind it
            send(f"-early-{n}", final=n == 7)
        relay.start()
        worker.start()
        collect(broker, [sink], lambda rs: len(rs) >= 8, timeout_s=45, decode_as=audio_pb2.AudioChunk)
        # A burst sent slowly: the hook holds the batch until its final chunk, each wait 1.5 s
        # from the last record, so the whole burst (1.6 s) is waited for.
        send("-burst-0")
        time.sleep(0.8)
        send("-burst-1")
        time.sleep(0.8)
        send("-burst-2", final=True)
        collect(broker, [sink], lambda rs: len(rs) >= 11, timeout_s=45, decode_as=audio_pb2.AudioChunk)
    finally:
        worker.stop()
        relay.stop()
        producer.close()

    behind = {s: b for batch in batches for s, b in batch if "early" in s}
    assert behind == {f"-early-{n}": 7 - n for n in range(8)}, "each record knows how many wait behind it"
    assert [s for s, _ in batches[-1]] == ["-burst-0", "-burst-1", "-burst-2"], "the burst came as one batch"
    assert [b for _, b in batches[-1]] == [2, 1, 0], "behind, as known when the batch was handed over"
