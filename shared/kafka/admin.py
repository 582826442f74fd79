"""Topic creation, idempotent, for the stack CLI, the services' start and the tests."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError


class BrokerUnavailable(ConnectionError):
    pass


def wait_for_broker(bootstrap: str, timeout_s: float = 30.0) -> None:
    """Wait until a bootstrap server accepts TCP connections (kafka-python's own wait is 30 s)."""
    deadline = time.monotonic() + timeout_s
    servers = [s.strip().rpartition(":") for s in bootstrap.split(",")]
    while True:
        for host, _, port in servers:
            try:
                with socket.create_connection((host, int(port)), timeout=1):
                    return
            except OSError:
                pass
        if time.monotonic() > deadline:
            raise BrokerUnavailable(f"no Kafka broker answered at {bootstrap} within {timeout_s:.0f}s")
        time.sleep(0.2)


def ensure_topics(
    bootstrap: str, names: Iterable[str], partitions: int = 4, replication: int = 1
) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    wait_for_broker(bootstrap)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="voxloop-admin")
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        if not missing:
            return []
        try:
            admin.create_topics([NewTopic(n, partitions, replication) for n in missing])
        except TopicAlreadyExistsError:
            pass  # a concurrent creator won the race; that is fine
        except KafkaError as exc:
            if "TopicAlreadyExists" not in str(exc):
                raise
        return missing
    finally:
        admin.close()
