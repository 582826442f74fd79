"""Put a message on a topic and watch for messages on others: for the demo and the tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from google.protobuf.message import Message
from kafka import KafkaConsumer, KafkaProducer

from protos import transcripts_pb2
from shared.kafka import codec
from shared.topics import TRANSCRIPTS_QA


@dataclass(frozen=True)
class Received:
    topic: str
    partition: int
    offset: int
    message_id: str
    trace_id: str
    message: Message
    received_at: float = 0.0  # time.time() when the probe read it, for latency measurements
    timestamp_ms: int = 0  # the record's own timestamp (set by its producer when it was sent)


def segment_id_of(message: Message) -> str:
    """The segment a flow message is about, whichever of the flow's types it is ("" if none)."""
    for path in ("segment_id", "segment.segment_id", "draft.segment.segment_id"):
        value: object = message
        for part in path.split("."):
            value = getattr(value, part, None)
        if value:
            return str(value)
    return ""


def publish(
    bootstrap: str,
    topic: str,
    messages: Iterable[Message],
    key: str | None = None,
    trace_id: str | None = None,
) -> list[str]:
    """Produce protobuf messages with fresh message ids (acks=all); return the ids."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    ids = []
    try:
        for message in messages:
            message_id = codec.new_id()
            producer.send(
                topic,
                key=key.encode() if key else None,
                value=codec.encode(message),
                headers=codec.make_headers(message, message_id, trace_id or message_id, "probe"),
            )
            ids.append(message_id)
        producer.flush(timeout=30)
    finally:
        producer.close()
    return ids


Record = tuple[bytes, bytes, list[tuple[str, bytes]]]  # key, value, headers


def verdict_records(verdicts: Sequence[transcripts_pb2.QaVerdict]) -> list[Record]:
    """The verdicts as transcripts.qa.v1 records, keyed by recording (encoded ahead, so that a
    benchmark's clock does not run while its load is being built)."""
    records = []
    for verdict in verdicts:
        message_id = codec.new_id()
        headers = codec.make_headers(verdict, message_id, message_id, "bench")
        records.append((verdict.context.recording_id.encode(), codec.encode(verdict), headers))
    return records


def publish_verdicts(bootstrap: str, verdicts: Sequence[transcripts_pb2.QaVerdict]) -> None:
    """Verdicts on transcripts.qa.v1 as fast as the broker takes them: the benchmarks' load."""
    publish_records(bootstrap, verdict_records(verdicts))


def publish_records(bootstrap: str, records: Sequence[Record]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, batch_size=256 * 1024)
    try:
        for key, value, headers in records:
            producer.send(TRANSCRIPTS_QA.name, key=key, value=value, headers=headers)
        producer.flush(timeout=60)
    finally:
        producer.close()


def publish_raw(bootstrap: str, topic: str, value: bytes, key: bytes | None = None) -> None:
    """Produce bytes as they are: how a broken or foreign producer looks to a service."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        producer.send(topic, key=key, value=value).get(timeout=30)
    finally:
        producer.close()


def collect(
    bootstrap: str,
    topics: list[str],
    until: Callable[[list[Received]], bool],
    timeout_s: float = 60.0,
    decode_as: type[Message] | None = None,
) -> list[Received]:
    """Read the topics from the beginning (no group) until ``until(received)`` or the timeout.

    Values are decoded as their topic's type, or as ``decode_as`` for topics outside the catalogue.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest", group_id=None
    )
    consumer.subscribe(topics)
    received: list[Received] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for r in records:
                    received.append(
                        Received(
                            r.topic,
                            r.partition,
                            r.offset,
                            codec.header(r.headers, codec.MESSAGE_ID) or "",
                            codec.header(r.headers, codec.TRACE_ID) or "",
                            decode_as.FromString(r.value)
                            if decode_as
                            else codec.decode(r.topic, r.value, r.headers),
                            time.time(),
                            r.timestamp,
                        )
                    )
            if until(received):
                return received
    finally:
        consumer.close()
    return received
