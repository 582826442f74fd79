"""The transactional outbox: enqueue with the state change, relay to Kafka afterwards.

Rows are claimed with a lease before sending, so several replicas of a service can relay from
one database without sending a row twice in the normal case; a replica that dies mid-send lets
its lease lapse and another picks the rows up (the message id stays the same, so consumers
deduplicate the rare resend).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

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


def enqueue(session: Session, outbound: Sequence[Outbound], trace_id: str, producer: str) -> list[str]:
    """Add messages to the outbox inside the caller's transaction; return their ids."""
    return enqueue_batch(session, [(outbound, trace_id)], producer)


def enqueue_batch(
    session: Session, batch: Sequence[tuple[Sequence[Outbound], str]], producer: str
) -> list[str]:
    """Several records' messages (each with its record's trace id) in one multi-row INSERT, not
    as ORM objects: a batch handler enqueues thousands of rows a second, and building and
    flushing an ORM object cost several times the row itself."""
    ids, rows = [], []
    for outbound, trace_id in batch:
        for item in outbound:
            message_id = item.message_id or codec.new_id()
            headers = codec.make_headers(item.message, message_id, item.trace_id or trace_id, producer)
            rows.append(
                {
                    "message_id": message_id,
                    "topic": item.topic,
                    "key": item.key.encode() if item.key is not None else None,
                    "value": codec.encode(item.message),
                    "headers": [[k, v.decode()] for k, v in headers],
                    "attempts": 0,
                }
            )
            ids.append(message_id)
    if rows:
        session.execute(bulk_insert(OutboxEntry), rows)
    return ids


@dataclass(frozen=True)
class _Pending:
    id: int
    topic: str
    key: bytes | None
    value: bytes
    headers: list[list[str]]


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
    ) -> None:
        self._sessions = sessions
        self._producer = producer
        self._service = service
        self._instance = instance_id
        # ``notify`` wakes the relay the moment its own service enqueues; the poll only picks up
        # rows another instance claimed and then lost (lapsed leases), so it need not be eager.
        self._poll_interval_s = poll_interval_s
        self._pending_report_interval_s = pending_report_interval_s
        self._pending_reported_at = float("-inf")
        self._batch_size = batch_size
        self._lease = timedelta(seconds=lease_s)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        """Called after a transaction that enqueued messages, so they go out without delay."""
        self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Drain what is pending, then stop."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            try:
                while self.relay_once():
                    pass
            except Exception:  # the broker or database is away: keep the rows, try again
                log.exception("outbox relay failed; retrying")
                if stopping:
                    return
            if stopping:
                return
            self._wake.wait(self._poll_interval_s)
            self._wake.clear()

    def _claim(self) -> list[_Pending]:
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
                    OutboxEntry.id, OutboxEntry.topic, OutboxEntry.key, OutboxEntry.value, OutboxEntry.headers
                )
                .where(OutboxEntry.claimed_by == self._instance, OutboxEntry.sent_at.is_(None))
                .order_by(OutboxEntry.id)
            ).all()
            return [_Pending(*row) for row in rows]

    def relay_once(self) -> int:
        """Send one batch; return how many rows were sent."""
        rows = self._claim()
        if not rows:
            if time.monotonic() - self._pending_reported_at >= self._pending_report_interval_s:
                self._report_pending()
            return 0
        futures = [
            self._producer.send(
                row.topic,
                key=row.key,
                value=row.value,
                headers=[(k, v.encode()) for k, v in row.headers],
            )
            for row in rows
        ]
        for future in futures:
            future.get(timeout=30)
        with self._sessions.begin() as session:
            session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id.in_([r.id for r in rows]))
                .values(sent_at=utcnow(), attempts=OutboxEntry.attempts + 1)
            )
        for row in rows:
            metrics.PUBLISHED.labels(self._service, row.topic).inc()
        if time.monotonic() - self._pending_reported_at >= self._pending_report_interval_s:
            self._report_pending()
        return len(rows)

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
