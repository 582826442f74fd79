"""Migrations, inbox, outbox relay — on SQLite and on PostgreSQL, never skipped."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, inspect, select

from protos import audio_pb2
from shared.db import InboxEntry, OutboxEntry, make_engine, make_session_factory, upgrade
from shared.db.tables import utcnow
from shared.kafka.admin import ensure_topics
from shared.kafka.outbox import Outbound, OutboxRelay, enqueue, make_producer
from shared.stack.probe import collect
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def test_migrations_are_idempotent_and_safe_concurrently(db_url: str) -> None:
    engines = [make_engine(db_url) for _ in range(3)]
    errors: list[BaseException] = []

    def migrate(engine) -> None:  # type: ignore[no-untyped-def]
        try:
            upgrade(engine)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    upgrade(engines[0])
    tables = set(inspect(engines[0]).get_table_names())
    assert {"inbox", "outbox", "segment_records", "alembic_version"} <= tables


def test_a_fresh_sqlite_file_opened_by_many_at_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Each first connection switches the file to WAL; SQLite refuses racing switches at once
    ("database is locked", no busy wait), so the engine has to retry. 30 fresh files, 6 openers."""
    errors: list[BaseException] = []
    for trial in range(30):
        url = f"sqlite:///{tmp_path}/fresh{trial}.db"
        engines = [make_engine(url) for _ in range(6)]
        barrier = threading.Barrier(len(engines))

        def open_it(engine, barrier: threading.Barrier) -> None:  # type: ignore[no-untyped-def]
            barrier.wait()
            try:
                with engine.connect() as conn:
                    assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=open_it, args=(e, barrier)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_inbox_rejects_a_second_entry_for_one_message(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    entry = dict(group_id="g", message_id="m1", topic="t", partition=0, offset=1, outcome="handled")
    with sessions.begin() as s:
        s.add(InboxEntry(**entry))
    with pytest.raises(Exception, match="(?i)unique|duplicate"), sessions.begin() as s:
        s.add(InboxEntry(**entry))


def test_outbox_relay_publishes_each_row_once_with_two_relays(db_url: str, broker: str) -> None:
    topic = f"test.outbox.{uuid.uuid4().hex[:8]}"
    ensure_topics(broker, [topic], partitions=2)
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as s:
        rows = enqueue(
            s,
            [
                Outbound(topic, audio_pb2.AudioChunk(stream_id=f"s{i}", sequence=i), key=f"s{i}")
                for i in range(40)
            ],
            trace_id="trace",
            producer="test",
        )
        ids = [row.message_id for row in rows]
    relays = [
        OutboxRelay(sessions, make_producer(broker, f"relay-{i}"), "test", f"relay-{i}", batch_size=7)
        for i in range(2)
    ]
    threads = [threading.Thread(target=r.relay_once) for r in relays]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for relay in relays:
        while relay.relay_once():
            pass
    with sessions() as s:
        assert (
            s.scalar(select(func.count()).select_from(OutboxEntry).where(OutboxEntry.sent_at.is_(None))) == 0
        )
        attempts = s.scalars(select(OutboxEntry.attempts)).all()
    assert set(attempts) == {1}, "every row sent exactly once"
    received = collect(
        broker, [topic], lambda rs: len(rs) >= 40, timeout_s=30, decode_as=audio_pb2.AudioChunk
    )
    assert sorted(r.message_id for r in received) == sorted(ids)
    assert {r.trace_id for r in received} == {"trace"}


def _chunks(topic: str, stream: str, first: int, count: int) -> list[Outbound]:
    return [
        Outbound(topic, audio_pb2.AudioChunk(stream_id=stream, sequence=n), key=stream)
        for n in range(first, first + count)
    ]


def _sent_by(sessions, claimed_by: str) -> int:  # type: ignore[no-untyped-def]
    with sessions() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(OutboxEntry)
                .where(OutboxEntry.claimed_by == claimed_by, OutboxEntry.sent_at.is_not(None))
            )
            or 0
        )


@pytest.mark.parametrize("queue_limit", [20_000, 25], ids=["in-memory", "queue-overflows"])
def test_rows_handed_over_are_sent_once_in_order(db_url: str, broker: str, queue_limit: int) -> None:
    """The consumer's path: rows claimed for the relay's memory queue, handed over after the
    commit. Every row arrives once, in order; with a small queue the rest go through the table."""
    topic = f"test.outbox.{uuid.uuid4().hex[:8]}"
    ensure_topics(broker, [topic], partitions=1)
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    relay = OutboxRelay(
        sessions, make_producer(broker, "relay-m"), "test", "relay-m", queue_limit=queue_limit
    )
    relay.start()
    try:
        wait_until(lambda: bool(relay.claim()), 10, "the relay to send from memory", 0.02)  # table empty
        first = 0
        for size in (10, 30, 10, 10):  # 30 rows do not fit a queue of 25
            claim = relay.claim()
            with sessions.begin() as s:
                rows = enqueue(s, _chunks(topic, "s", first, size), "trace", "test", claim)
            relay.hand_over(rows, claimed=bool(claim))
            first += size
        received = collect(
            broker, [topic], lambda rs: len(rs) >= 60, timeout_s=30, decode_as=audio_pb2.AudioChunk
        )
        wait_until(
            lambda: _sent_by(sessions, "relay-m") + _sent_by(sessions, "relay-m/memory") == 60,
            10,
            "every row marked sent",
            0.02,
        )
    finally:
        relay.stop()
    assert [r.message.sequence for r in received] == list(range(60)), "each once, in order"  # type: ignore[attr-defined]
    if queue_limit > 60:
        assert _sent_by(sessions, "relay-m/memory") == 60, "none read back from the table"
    else:
        assert _sent_by(sessions, "relay-m") >= 30, "what did not fit went through the table"


def test_rows_reserved_for_a_relay_that_died_are_sent_by_its_restart(db_url: str, broker: str) -> None:
    """A process that dies between the commit and the send leaves rows reserved for its memory
    queue, with a lease still running; its next start takes them back, before newer rows."""
    topic = f"test.outbox.{uuid.uuid4().hex[:8]}"
    ensure_topics(broker, [topic], partitions=1)
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    reserved = {"claimed_by": "relay-d/memory", "claimed_until": utcnow() + timedelta(minutes=5)}
    with sessions.begin() as s:
        enqueue(s, _chunks(topic, "s", 0, 5), "trace", "test", reserved)  # never handed over
    relay = OutboxRelay(sessions, make_producer(broker, "relay-d"), "test", "relay-d")
    relay.start()
    try:
        wait_until(lambda: bool(relay.claim()), 10, "the relay to send from memory", 0.02)
        claim = relay.claim()
        with sessions.begin() as s:
            rows = enqueue(s, _chunks(topic, "s", 5, 5), "trace", "test", claim)
        relay.hand_over(rows, claimed=True)
        received = collect(
            broker, [topic], lambda rs: len(rs) >= 10, timeout_s=30, decode_as=audio_pb2.AudioChunk
        )
    finally:
        relay.stop()
    assert [r.message.sequence for r in received] == list(range(10))  # type: ignore[attr-defined]
