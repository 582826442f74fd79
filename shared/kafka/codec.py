"""Protobuf on the wire, with message id and trace id in Kafka headers.

The message id is the idempotency key of every consumer; the trace id follows a recording
through every hop so one grep of the logs shows its whole journey.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from google.protobuf.message import DecodeError, Message

from shared.topics import message_type_for

MESSAGE_ID = "message-id"
TRACE_ID = "trace-id"
MESSAGE_TYPE = "message-type"
PRODUCER = "producer"
CONTENT_TYPE = "content-type"
PROTOBUF = "application/x-protobuf"

Headers = Sequence[tuple[str, bytes]]


class UndecodableMessage(ValueError):
    """The bytes on a topic are not the topic's message type."""


def new_id() -> str:
    return uuid.uuid4().hex


def encode(message: Message) -> bytes:
    return message.SerializeToString(deterministic=True)


def make_headers(message: Message, message_id: str, trace_id: str, producer: str) -> list[tuple[str, bytes]]:
    return [
        (MESSAGE_ID, message_id.encode()),
        (TRACE_ID, trace_id.encode()),
        (MESSAGE_TYPE, message.DESCRIPTOR.full_name.encode()),
        (CONTENT_TYPE, PROTOBUF.encode()),
        (PRODUCER, producer.encode()),
    ]


def header(headers: Headers | None, name: str) -> str | None:
    for key, value in headers or ():
        if key == name and value is not None:
            return value.decode("utf-8", errors="replace")
    return None


def decode(topic: str, value: bytes | None, headers: Headers | None = None) -> Message:
    """Parse a record's value as the topic's type, or say precisely why it cannot be."""
    message_cls = message_type_for(topic)
    expected = message_cls.DESCRIPTOR.full_name
    declared = header(headers, MESSAGE_TYPE)
    if declared and declared != expected:
        raise UndecodableMessage(f"header {MESSAGE_TYPE}={declared!r} but {topic} carries {expected}")
    if not value:
        raise UndecodableMessage(f"empty value; {topic} carries {expected}")
    message = message_cls()
    try:
        message.ParseFromString(value)
    except DecodeError as exc:
        raise UndecodableMessage(f"value is not a valid {expected}: {exc}") from None
    return message
