"""The transactional outbox: enqueue with the state change, relay to Kafka afterwards.

Rows are claimed with a lease before sending, so several replicas of a service can relay from
one database without sending a row twice in the normal case; a replica that dies mid-send lets
its lease lapse and another picks the rows up (the message id stays the same, so consumers
deduplicate the rare resend).

The hot path skips the table on the way out: the consumer enqueues rows already claimed by its
own process's relay (``OutboxRelay.claim``) and, once the transaction has committed, hands the
same rows over in memory (``hand_over``); the relay sends them and marks them sent. Reading
them back cost the relay as much as sending them. The table stays the record: a relay that
restarts, fails to send, or is handed more than it queues goes back to sending from the table,
in id order, and returns to memory once the table holds nothing for it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from google.protobuf.message import Message
from kafka import KafkaProducer
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from shared import metrics
from shared.db.tables import OutboxEntry, bulk_insert, utcnow
from shared.kafka import codec
from shared.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Outbound:
    """A message a handler wants published. The id is derived if not given."""

    topic: str
    message: Message
    key: str | None = None
    message_id: str | None = None
    trace_id: str | None = None  # this message's own trace (e.g. a task's segment); else the batch's


@dataclass(frozen=True)
class Pending:
    """An outbox row as the relay sends it."""

    message_id: str
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def enqueue(
    session: Session,
    outbound: Sequence[Outbound],
    trace_id: str,
    producer: str,
    claim: Mapping[str, Any] | None = None,
) -> list[Pending]:
    """Add messages to the outbox inside the caller's transaction; return their rows."""
    return enqueue_batch(session, [(outbound, trace_id)], producer, claim)


def enqueue_batch(
    session: Session,
    batch: Sequence[tuple[Sequence[Outbound], str]],
    producer: str,
    claim: Mapping[str, Any] | None = None,
) -> list[Pending]:
    """Several records' messages (each with its record's trace id) in one multi-row INSERT, not
    as ORM objects: a batch handler enqueues thousands of rows a second, and building and
    flushing an ORM object cost several times the row itself. ``claim``: the columns of
    ``OutboxRelay.claim``, for rows its relay is handed after the commit."""
    pending, rows = [], []
    for outbound, trace_id in batch:
        for item in outbound:
            message_id = item.message_id or codec.new_id()
            headers = codec.make_headers(item.message, message_id, item.trace_id or trace_id, producer)
            key = item.key.encode() if item.key is not None else None
            row = Pending(message_id, item.topic, key, codec.encode(item.message), headers)
            pending.append(row)
            rows.append(
                {
                    "message_id": message_id,
                    "topic": row.topic,
                    "key": key,
                    "value": row.value,
                    "headers": [[k, v.decode()] for k, v in headers],
                    "attempts": 0,
                    **(claim or {}),
                }
            )
    if rows:
        session.execute(bulk_insert(OutboxEntry), rows)
    return pending


class OutboxRelay:
    """Background thread that publishes outbox rows with acks=all, then marks them sent."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        producer: KafkaProducer,
        service: str,
        instance_id: str,
        poll_interval_s: float = 1.0,
        batch_size: int = 500,
        pending_report_interval_s: float = 5.0,
        lease_s: float = 30.0,
        queue_limit: int = 20_000,
    ) -> None:
        self._sessions = sessions
        self._producer = producer
        self._service = service
        self._instance = instance_id
        self._in_memory = f"{instance_id}/memory"  # claimed_by of rows this relay is handed
        # ``notify`` and ``hand_over`` wake the relay the moment its own service enqueues; the
        # poll only picks up rows another instance claimed and then lost (lapsed leases).
        self._poll_interval_s = poll_interval_s
        self._pending_report_interval_s = pending_report_interval_s
        self._pending_reported_at = float("-inf")
        self._batch_size = batch_size
        self._lease = timedelta(seconds=lease_s)
        self._queue_limit = queue_limit
        self._lock = threading.Lock()
        self._handed: list[Pending] = []  # rows handed over, oldest first
        self._direct = False  # ``claim`` reserves rows for ``hand_over``
        self._table_due = True  # rows may wait in the table: read it before the memory queue
        self._reclaim = True  # rows reserved for memory may not be in it: read them from the table
        self._table_read_at = float("-inf")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def claim(self) -> dict[str, Any]:
        """Columns for rows about to be enqueued: reserved for this relay's memory queue (the
        caller hands them over after the commit), or none while it sends from the table."""
        with self._lock:
            direct = self._direct
        return {"claimed_by": self._in_memory, "claimed_until": utcnow() + self._lease} if direct else {}

    def hand_over(self, rows: Sequence[Pending], claimed: bool) -> None:
        """The rows of a committed transaction, enqueued with ``claim``'s columns or not."""
        if not rows:
            return
        with self._lock:
            if not claimed:
                self._table_due = True
            elif self._direct and len(self._handed) + len(rows) <= self._queue_limit:
                self._handed.extend(rows)
            else:
                self._from_table()
        self._wake.set()

    def notify(self) -> None:
        """Rows were enqueued unclaimed (a unit of work outside the consumer): wake the relay,
        which sends them from the table."""
        with self._lock:
            self._table_due = True
        self._wake.set()

    def _from_table(self) -> None:
        """(Under the lock.) A send failed, the queue is full, or the relay stops: the rows
        reserved for memory are taken back from the table, in id order, with the rest."""
        self._direct, self._table_due, self._reclaim = False, True, True
        self._handed = []

    def stop(self, timeout_s: float = 10.0) -> None:
        """Drain what is pending, then stop."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            with self._lock:
                if stopping:
                    self._from_table()
                elif time.monotonic() - self._table_read_at >= self._poll_interval_s:
                    self._table_due = True  # lapsed leases of other instances
            try:
                while self._step():
                    pass
            except Exception:  # the broker or database is away: keep the rows, try again
                log.exception("outbox relay failed; retrying")
                with self._lock:
                    self._from_table()
                if stopping:
                    return
            if stopping:
                return
            self._wake.wait(self._poll_interval_s)
            self._wake.clear()

    def _step(self) -> int:
        """Send one batch, from the table while it may hold rows, else from the memory queue;
        return how many rows were sent."""
        with self._lock:
            table, reclaim = self._table_due, self._reclaim
            self._table_due = self._reclaim = False
            handed = [] if table else self._handed[: self._batch_size]
            del self._handed[: len(handed)]
        if reclaim:
            self._take_back()
        if not table:
            self._send(handed)
            return len(handed)
        sent = self.relay_once()
        with self._lock:
            if sent:
                self._table_due = True  # read on until it is empty
            else:
                self._table_read_at = time.monotonic()
                self._direct = not self._reclaim
        return sent or len(self._handed)

    def _take_back(self) -> None:
        """Rows reserved for this relay's memory queue (before a restart or failure) become
        ordinary rows claimed by it, so the table pass sends them."""
        with self._sessions.begin() as session:
            session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.claimed_by == self._in_memory, OutboxEntry.sent_at.is_(None))
                .values(claimed_by=self._instance)
                .execution_options(synchronize_session=False)
            )

    def _claim(self) -> list[Pending]:
        now = utcnow()
        with self._sessions.begin() as session:
            candidates = (
                select(OutboxEntry.id)
                .where(OutboxEntry.sent_at.is_(None))
                .order_by(OutboxEntry.id)
                .limit(self._batch_size)
            )
            lapsed = or_(OutboxEntry.claimed_until.is_(None), OutboxEntry.claimed_until < now)
            session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id.in_(candidates), OutboxEntry.sent_at.is_(None), lapsed)
                .values(claimed_by=self._instance, claimed_until=now + self._lease)
                .execution_options(synchronize_session=False)
            )
        with self._sessions() as session:  # plain rows: loading ORM objects cost more than sending
            rows = session.execute(
                select(
                    OutboxEntry.message_id,
                    OutboxEntry.topic,
                    OutboxEntry.key,
                    OutboxEntry.value,
                    OutboxEntry.headers,
                )
                .where(OutboxEntry.claimed_by == self._instance, OutboxEntry.sent_at.is_(None))
                .order_by(OutboxEntry.id)
            ).all()
            return [Pending(m, t, k, v, [(hk, hv.encode()) for hk, hv in h]) for m, t, k, v, h in rows]

    def relay_once(self) -> int:
        """Send one batch from the table; return how many rows were sent."""
        rows = self._claim()
        if rows:
            self._send(rows)
        elif time.monotonic() - self._pending_reported_at >= self._pending_report_interval_s:
            self._report_pending()
        return len(rows)

    def _send(self, rows: Sequence[Pending]) -> None:
        if not rows:
            return
        futures = [
            self._producer.send(row.topic, key=row.key, value=row.value, headers=row.headers) for row in rows
        ]
        for future in futures:
            future.get(timeout=30)
        with self._sessions.begin() as session:
            session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.message_id.in_([r.message_id for r in rows]))
                .values(sent_at=utcnow(), attempts=OutboxEntry.attempts + 1)
                .execution_options(synchronize_session=False)
            )
        for topic, count in Counter(row.topic for row in rows).items():
            metrics.PUBLISHED.labels(self._service, topic).inc(count)
        if time.monotonic() - self._pending_reported_at >= self._pending_report_interval_s:
            self._report_pending()

    def _report_pending(self) -> None:
        with self._sessions() as session:
            pending = session.scalar(
                select(func.count()).select_from(OutboxEntry).where(OutboxEntry.sent_at.is_(None))
            )
        metrics.OUTBOX_PENDING.labels(self._service).set(pending or 0)
        self._pending_reported_at = time.monotonic()


def make_producer(bootstrap: str, client_id: str) -> KafkaProducer:
    # One in-flight request per connection keeps a partition's order across retries.
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        retries=5,
        max_in_flight_requests_per_connection=1,
        linger_ms=5,
        batch_size=256 * 1024,  # a relay batch in few requests: kafka-python spends CPU per request
    )
