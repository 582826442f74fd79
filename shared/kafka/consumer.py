"""The one consumer loop every service uses.

For each record: decode it, and in ONE database transaction check the inbox for its message id,
run the handler, record the inbox entry and enqueue the handler's output in the outbox; only
then commit the Kafka offset. A crash anywhere before the offset commit redelivers the record,
and the inbox makes the second delivery a no-op: at-least-once transport, exactly-once effects.
Anything that cannot be decoded or handled goes to ``<topic>.dlq`` with the reason, through the
same outbox, and the loop moves on.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protos import events_pb2
from shared import metrics
from shared.db.tables import InboxEntry, bulk_insert
from shared.kafka import codec
from shared.kafka.outbox import Outbound, OutboxRelay, Pending, enqueue, enqueue_batch
from shared.logging import get_logger
from shared.topics import DEAD_LETTER_SUFFIX

log = get_logger(__name__)

M = TypeVar("M", bound=Message)


class InvalidMessage(ValueError):
    """A decodable message whose content breaks the contract (a required field is missing...).

    Raised by handlers; never retried, the record goes straight to the dead-letter topic.
    ``on_dead_letter`` runs in the dead-letter transaction: the handler's own transaction is
    rolled back, so a state the rejection implies (a stream marked failed) is written there.
    """

    def __init__(self, reason: str, on_dead_letter: Callable[[Session], None] | None = None) -> None:
        super().__init__(reason)
        self.on_dead_letter = on_dead_letter


@dataclass(frozen=True)
class Inbound(Generic[M]):
    message: M
    message_id: str
    trace_id: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    # Records already waiting behind this one on its partition when it was handed over (from
    # the partition's last known high watermark); 0 when caught up or unknown. A producer
    # upstream can tell its consumers "more is coming at once" from it (ingest, ASR).
    behind: int = 0


Handler = Callable[[Session, Inbound[Any]], Sequence[Outbound]]
# Several records at once: returns each record's output, in the records' order.
BatchHandler = Callable[[Session, Sequence[Inbound[Any]]], Sequence[Sequence[Outbound]]]


@dataclass(frozen=True)
class Subscription:
    """``batch_handler`` (optional) takes a polled batch of the topic in one transaction, for
    topics of many small records (audio chunks); if it raises, the batch is rolled back and taken
    record by record through ``handler``, so retries and dead letters work exactly as without it."""

    topic: str
    handler: Handler
    batch_handler: BatchHandler | None = None
    # Called with the records of the next poll (decoded; undecodable ones left out) before the
    # current poll is handled, so slow work done elsewhere (the annotate service's NLP process)
    # can start early. It must have no effect that matters if the records are never handled.
    prepare: Callable[[Sequence[Inbound[Any]]], None] | None = None
    # Called with a poll's records of the topic (decoded); True asks the loop to poll again
    # (until ``linger_s`` passes without a new record, or ``max_poll_records``) and hand the
    # records over together: a
    # handler that works better on a burst at once (ASR decoding a recording's segments as one
    # audio) waits for the rest of a burst it knows is on its way.
    linger: Callable[[Sequence[Inbound[Any]]], bool] | None = None
    linger_s: float = 0.0


def require(message: Message, *paths: str) -> None:
    """Raise InvalidMessage naming the first empty field among dotted ``paths``."""
    for path in paths:
        value: Any = message
        for part in path.split("."):
            value = getattr(value, part)
        if value in ("", 0, b"") or (isinstance(value, Message) and not value.ByteSize()):
            raise InvalidMessage(f"{message.DESCRIPTOR.full_name}.{path} is required but empty")


@dataclass(frozen=True)
class ConsumerConfig:
    bootstrap: str
    group_id: str
    service: str
    instance_id: str
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 1000
    max_poll_interval_ms: int = 300_000
    poll_timeout_ms: int = 500
    max_poll_records: int = 50
    max_attempts: int = 3
    pause_before_offset_commit_s: float = 0.0


class ConsumerWorker:
    """Runs the loop in a thread; ``stop()`` finishes the in-flight record, commits, leaves."""

    def __init__(
        self,
        config: ConsumerConfig,
        subscriptions: Sequence[Subscription],
        sessions: sessionmaker[Session],
        outbox: OutboxRelay | None = None,
    ) -> None:
        self._config = config
        self._handlers = {s.topic: s.handler for s in subscriptions}
        self._batch_handlers = {s.topic: s.batch_handler for s in subscriptions if s.batch_handler}
        self._prepare = {s.topic: s.prepare for s in subscriptions if s.prepare}
        self._linger = {s.topic: (s.linger, s.linger_s) for s in subscriptions if s.linger and s.linger_s > 0}
        self._highwater: dict[TopicPartition, int] = {}
        self._sessions = sessions
        self._outbox = outbox
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run_guarded, name="consumer", daemon=True)
        self.failed: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run_guarded(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # surfaces to the runtime, which exits non-zero
            self.failed = exc
            log.exception("consumer stopped on an unrecoverable error")

    def _run(self) -> None:
        cfg = self._config
        consumer = KafkaConsumer(
            *self._handlers,
            bootstrap_servers=cfg.bootstrap,
            group_id=cfg.group_id,
            client_id=f"{cfg.service}-{cfg.instance_id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=cfg.session_timeout_ms,
            heartbeat_interval_ms=cfg.heartbeat_interval_ms,
            max_poll_interval_ms=cfg.max_poll_interval_ms,
            max_poll_records=cfg.max_poll_records,
        )
        log.info("consumer started", topics=sorted(self._handlers), group=cfg.group_id)
        try:
            # With a ``prepare`` hook the loop polls one batch ahead: it prepares poll n+1, then
            # handles poll n. Without one, or when nothing is flowing, it handles what it polled.
            ahead: dict[TopicPartition, list[ConsumerRecord]] = {}
            while not self._stop.is_set():
                polled = consumer.poll(timeout_ms=0 if ahead else cfg.poll_timeout_ms)
                self._note_highwater(consumer, polled)
                if self._linger:
                    polled = self._lingered(consumer, polled)
                if self._prepare:
                    self._prepare_batches(polled)
                    ahead, polled = polled, ahead
                for tp, records in polled.items():
                    self._take(consumer, tp, records)
        finally:
            consumer.close(autocommit=False)
            log.info("consumer closed", group=cfg.group_id)

    def _note_highwater(
        self, consumer: KafkaConsumer, polled: dict[TopicPartition, list[ConsumerRecord]]
    ) -> None:
        for tp in polled:
            highwater = consumer.highwater(tp)
            if highwater is not None:
                self._highwater[tp] = highwater

    def _wants_more(self, polled: dict[TopicPartition, list[ConsumerRecord]]) -> bool:
        for tp, records in polled.items():
            linger, _ = self._linger.get(tp.topic, (None, 0.0))
            if linger is None:
                continue
            try:
                if linger(self._decodable(records)):
                    return True
            except Exception as exc:  # waiting is an optimisation: handle what is here
                log.warning("linger failed", topic=tp.topic, records=len(records), error=repr(exc))
        return False

    def _lingered(
        self, consumer: KafkaConsumer, polled: dict[TopicPartition, list[ConsumerRecord]]
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """``polled`` and what more came while a ``linger`` hook asked for it: each wait ends
        ``linger_s`` after the last record came (a burst that keeps coming is waited for while
        it comes, however busy the producer upstream is), and the batch at ``max_poll_records``."""
        topics = {tp.topic for tp in polled} & set(self._linger)
        if not topics:
            return polled
        patience_s = max(self._linger[t][1] for t in topics)
        deadline = time.monotonic() + patience_s
        merged = {tp: list(records) for tp, records in polled.items()}
        waiting = self._wants_more(merged)
        while waiting and not self._stop.is_set():
            room = self._config.max_poll_records - max(len(r) for r in merged.values())
            left_ms = int((deadline - time.monotonic()) * 1000)
            if room <= 0 or left_ms <= 0:
                break
            more = consumer.poll(timeout_ms=min(left_ms, 100), max_records=room)
            if more:  # the hook is asked again only when something came
                self._note_highwater(consumer, more)
                for tp, records in more.items():
                    merged.setdefault(tp, []).extend(records)
                deadline = time.monotonic() + patience_s
                waiting = self._wants_more(merged)
        return merged

    def _take(self, consumer: KafkaConsumer, tp: TopicPartition, records: Sequence[ConsumerRecord]) -> None:
        """Handle a partition's polled records and commit their offset."""
        cfg = self._config
        # One offset commit per polled batch, not per record: each commit is a round trip to
        # the group coordinator. Every record's effects are committed to the database first,
        # so a crash mid-batch redelivers records the inbox already holds, and their second
        # delivery is a no-op.
        next_offset = None
        batched = len(records) > 1 and tp.topic in self._batch_handlers
        if batched and not self._stop.is_set() and self.process_batch(records):
            next_offset, records = records[-1].offset + 1, []
        for record in records:
            if self._stop.is_set():
                break  # uncommitted records are redelivered to whoever owns them next
            self.process(record)
            next_offset = record.offset + 1
        if next_offset is not None:
            if cfg.pause_before_offset_commit_s:
                time.sleep(cfg.pause_before_offset_commit_s)
            self._commit(consumer, tp, next_offset)

    def _prepare_batches(self, polled: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        for tp, records in polled.items():
            prepare = self._prepare.get(tp.topic)
            if prepare is None:
                continue
            try:
                prepare(self._decodable(records))
            except Exception as exc:  # only a head start was lost: the handler does the work
                log.warning("prepare failed", topic=tp.topic, records=len(records), error=repr(exc))

    def _commit(self, consumer: KafkaConsumer, tp: TopicPartition, offset: int) -> None:
        try:
            consumer.commit({tp: OffsetAndMetadata(offset, "", -1)})
        except (CommitFailedError, KafkaError) as exc:
            # The partition moved to another member during a rebalance; it will redeliver the
            # record and the inbox will recognise it. Nothing is lost.
            log.warning("offset commit failed", topic=tp.topic, partition=tp.partition, error=str(exc))

    def process(self, record: ConsumerRecord) -> str:
        """Handle one record end to end (without the offset commit); return the outcome."""
        cfg = self._config
        started = time.perf_counter()
        inbound = self._inbound(record)
        if isinstance(inbound, str):
            return inbound
        message_id, trace_id = inbound.message_id, inbound.trace_id
        handler = self._handlers[record.topic]
        for attempt in range(1, cfg.max_attempts + 1):
            try:
                outcome = self._handle_once(handler, inbound)
                break
            except InvalidMessage as exc:
                return self._dead_letter(
                    record, message_id, trace_id, "validation", str(exc), attempt, exc.on_dead_letter
                )
            except Exception as exc:
                log.warning(
                    "handler failed",
                    topic=record.topic,
                    message_id=message_id,
                    attempt=attempt,
                    error=repr(exc),
                )
                if attempt == cfg.max_attempts:
                    reason = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
                    return self._dead_letter(record, message_id, trace_id, "handler", reason, attempt)
                time.sleep(min(2.0, 0.1 * 2**attempt))
        metrics.HANDLER_SECONDS.labels(cfg.service, record.topic).observe(time.perf_counter() - started)
        metrics.MESSAGES.labels(cfg.service, record.topic, outcome).inc()
        return outcome

    def _inbound(self, record: ConsumerRecord) -> Inbound[Any] | str:
        """The record decoded, with its message and trace ids; or, when it cannot be decoded,
        the outcome of dead-lettering it."""
        try:
            return self._decoded(record)
        except codec.UndecodableMessage as exc:
            return self._dead_letter(record, *self._ids(record), "decode", str(exc), 1)

    @staticmethod
    def _ids(record: ConsumerRecord) -> tuple[str, str]:
        """The record's message id and trace id, from its headers or its place in the log."""
        headers = record.headers or []
        message_id = codec.header(headers, codec.MESSAGE_ID) or (
            f"{record.topic}/{record.partition}/{record.offset}"
        )
        return message_id, codec.header(headers, codec.TRACE_ID) or message_id

    def _decodable(self, records: Sequence[ConsumerRecord]) -> list[Inbound[Any]]:
        """The records a hook may look at ahead of their turn; an undecodable one is left out
        (it is dead-lettered when its turn comes)."""
        inbounds = []
        for record in records:
            with contextlib.suppress(codec.UndecodableMessage):
                inbounds.append(self._decoded(record))
        return inbounds

    def _decoded(self, record: ConsumerRecord) -> Inbound[Any]:
        """The record as an Inbound; raises UndecodableMessage."""
        message_id, trace_id = self._ids(record)
        return Inbound(
            message=codec.decode(record.topic, record.value, record.headers or []),
            message_id=message_id,
            trace_id=trace_id,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            behind=max(
                0, self._highwater.get(TopicPartition(record.topic, record.partition), 0) - record.offset - 1
            ),
        )

    def process_batch(self, records: Sequence[ConsumerRecord]) -> bool:
        """Take records of one partition in one transaction through the topic's batch handler
        (an undecodable one is dead-lettered alone first); False when the handler raises: nothing
        of the batch is committed, and the caller takes the records one by one."""
        topic = records[0].topic
        started = time.perf_counter()
        # An undecodable record is dead-lettered alone; the rest go on together.
        inbounds = [i for i in map(self._inbound, records) if not isinstance(i, str)]
        claim = self._claim()
        try:
            with self._sessions.begin() as session:
                seen = set(
                    session.scalars(
                        select(InboxEntry.message_id).where(
                            InboxEntry.group_id == self._config.group_id,
                            InboxEntry.message_id.in_([i.message_id for i in inbounds]),
                        )
                    )
                )
                fresh, ids = [], set(seen)
                for inbound in inbounds:  # a record twice in one batch counts once
                    if inbound.message_id not in ids:
                        fresh.append(inbound)
                        ids.add(inbound.message_id)
                outputs = self._batch_handlers[topic](session, fresh) if fresh else []
                self._record_inboxes(
                    session, [(i.message_id, topic, i.partition, i.offset) for i in fresh], "handled"
                )
                rows = enqueue_batch(
                    session,
                    [(out, i.trace_id) for i, out in zip(fresh, outputs, strict=True)],
                    self._config.service,
                    claim,
                )
        except Exception as exc:
            log.info("batch taken record by record", topic=topic, records=len(records), reason=repr(exc))
            return False
        self._hand_over(rows, claim)
        elapsed = time.perf_counter() - started
        handler_seconds = metrics.HANDLER_SECONDS.labels(self._config.service, topic)
        for _ in fresh:
            handler_seconds.observe(elapsed / len(fresh))
        metrics.MESSAGES.labels(self._config.service, topic, "handled").inc(len(fresh))
        if len(inbounds) > len(fresh):
            metrics.MESSAGES.labels(self._config.service, topic, "duplicate").inc(len(inbounds) - len(fresh))
        log.info("handled batch", topic=topic, records=len(records), duplicates=len(inbounds) - len(fresh))
        return True

    def _seen(self, session: Session, message_id: str) -> bool:
        return (
            session.scalar(
                select(InboxEntry.message_id).where(
                    InboxEntry.group_id == self._config.group_id, InboxEntry.message_id == message_id
                )
            )
            is not None
        )

    def _record_inbox(
        self, session: Session, inbound_id: str, topic: str, partition: int, offset: int, outcome: str
    ) -> None:
        self._record_inboxes(session, [(inbound_id, topic, partition, offset)], outcome)

    def _record_inboxes(
        self, session: Session, entries: Sequence[tuple[str, str, int, int]], outcome: str
    ) -> None:
        """(message id, topic, partition, offset) of each record taken, in one INSERT."""
        if entries:
            group = self._config.group_id
            session.execute(
                bulk_insert(InboxEntry),
                [
                    {
                        "group_id": group,
                        "message_id": m,
                        "topic": t,
                        "partition": p,
                        "offset": o,
                        "outcome": outcome,
                    }
                    for m, t, p, o in entries
                ],
            )

    def _claim(self) -> dict[str, Any]:
        return self._outbox.claim() if self._outbox is not None else {}

    def _hand_over(self, rows: Sequence[Pending], claim: dict[str, Any]) -> None:
        """After the commit: the relay sends the rows from memory (``claim``) or the table."""
        if self._outbox is not None:
            self._outbox.hand_over(rows, claimed=bool(claim))

    def _handle_once(self, handler: Handler, inbound: Inbound[Any]) -> str:
        claim = self._claim()
        with self._sessions.begin() as session:
            if self._seen(session, inbound.message_id):
                log.info("duplicate skipped", topic=inbound.topic, message_id=inbound.message_id)
                return "duplicate"
            outbound = handler(session, inbound)
            self._record_inbox(
                session, inbound.message_id, inbound.topic, inbound.partition, inbound.offset, "handled"
            )
            rows = enqueue(session, outbound, inbound.trace_id, self._config.service, claim)
        self._hand_over(rows, claim)
        log.info(
            "handled",
            topic=inbound.topic,
            message_id=inbound.message_id,
            trace_id=inbound.trace_id,
            published=[o.topic for o in outbound],
        )
        return "handled"

    def _dead_letter(
        self,
        record: ConsumerRecord,
        message_id: str,
        trace_id: str,
        error_type: str,
        reason: str,
        attempts: int,
        on_dead_letter: Callable[[Session], None] | None = None,
    ) -> str:
        cfg = self._config
        failed_at = Timestamp()
        failed_at.GetCurrentTime()
        letter = events_pb2.DeadLetter(
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key or b"",
            value=record.value or b"",
            headers=[events_pb2.KafkaHeader(key=k, value=v or b"") for k, v in record.headers or []],
            consumer_group=cfg.group_id,
            service=cfg.service,
            error_type=error_type,
            reason=reason,
            attempts=attempts,
            failed_at=failed_at,
        )
        claim = self._claim()
        with self._sessions.begin() as session:
            if self._seen(session, message_id):
                return "duplicate"
            self._record_inbox(
                session, message_id, record.topic, record.partition, record.offset, "dead_lettered"
            )
            if on_dead_letter is not None:
                on_dead_letter(session)
            dead = Outbound(record.topic + DEAD_LETTER_SUFFIX, letter, message_id=f"dlq-{message_id}")
            rows = enqueue(session, [dead], trace_id, cfg.service, claim)
        self._hand_over(rows, claim)
        log.error(
            "dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            message_id=message_id,
            error_type=error_type,
            reason=reason,
        )
        metrics.MESSAGES.labels(cfg.service, record.topic, "dead_lettered").inc()
        return "dead_lettered"
