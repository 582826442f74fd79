"""Service runtime: settings -> logging, metrics, database, broker -> consumer + gRPC -> SIGTERM.

Every ``services/<name>/__main__.py`` builds a ``ServiceDefinition`` and calls ``run``; nothing
else in a service knows how Kafka, the outbox or the gRPC server are wired.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.orm import Session, sessionmaker

from protos import common_pb2
from shared import metrics
from shared.blobstore import LocalBlobStore
from shared.db import make_engine, make_session_factory, upgrade
from shared.grpc.auth import AccessPolicy, Authenticator, StaticTokens
from shared.grpc.server import GrpcService, RefusalHook, start_server
from shared.kafka import codec
from shared.kafka.admin import ensure_topics
from shared.kafka.consumer import ConsumerConfig, ConsumerWorker, Subscription
from shared.kafka.outbox import Outbound, OutboxRelay, enqueue, make_producer
from shared.logging import configure_logging, get_logger
from shared.settings import ServiceSettings, SettingsError, load_settings
from shared.topics import all_topic_names

log = get_logger(__name__)


@functools.cache
def package_version() -> str:
    try:
        return metadata.version("voxloop")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass
class ServiceContext:
    """What handlers and servicers may use: settings, database sessions, blobs, provenance."""

    settings: ServiceSettings
    sessions: sessionmaker[Session]
    blobs: LocalBlobStore
    notify_outbox: Callable[[], None] = lambda: None  # set by ``run`` to wake the relay

    @contextmanager
    def unit_of_work(self, trace_id: str = "") -> Iterator[tuple[Session, list[Outbound]]]:
        """One transaction outside the consumer loop (a gRPC call, a timer): state changes and
        the messages appended to the yielded list commit together, through the outbox."""
        outbound: list[Outbound] = []
        with self.sessions.begin() as session:
            yield session, outbound
            enqueue(session, outbound, trace_id or codec.new_id(), self.settings.service_name)
        if outbound:
            self.notify_outbox()

    def provenance(
        self, model_name: str = "", model_version: str = "", **parameters: str
    ) -> common_pb2.Provenance:
        now = Timestamp()
        now.GetCurrentTime()
        return common_pb2.Provenance(
            service=self.settings.service_name,
            service_version=package_version(),
            instance_id=self.settings.instance_id,
            model_name=model_name,
            model_version=model_version,
            parameters=parameters,
            produced_at=now,
        )


@dataclass(frozen=True)
class Ticker:
    """Work a service does on a timer rather than on a message (e.g. expiring idle streams)."""

    name: str
    interval_s: float
    tick: Callable[[], None]


@dataclass
class ServiceDefinition:
    settings: ServiceSettings
    subscriptions: Callable[[ServiceContext], Sequence[Subscription]]
    grpc_services: Callable[[ServiceContext], Sequence[GrpcService]]
    migrations: Sequence[Path] = ()
    method_roles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    tickers: Callable[[ServiceContext], Sequence[Ticker]] = lambda ctx: ()
    # Many gRPC threads that read then write (see ``make_engine``).
    immediate_writes: bool = False
    # Who the tokens belong to: settings' static tokens by default; a service may add its own.
    authenticator: Callable[[ServiceContext, Authenticator], Authenticator] | None = None
    # Told of every refused call (method, subject or "", status name, message), e.g. to audit it.
    on_refused: Callable[[ServiceContext], RefusalHook] | None = None


def _run_ticker(ticker: Ticker, stop: threading.Event) -> None:
    while not stop.wait(ticker.interval_s):
        try:
            ticker.tick()
        except Exception:  # a failed tick is retried on the next one; the service keeps serving
            log.exception("ticker failed", ticker=ticker.name)


def build_context(
    settings: ServiceSettings, migrations: Sequence[Path] = (), immediate_writes: bool = False
) -> ServiceContext:
    engine = make_engine(settings.resolved_database_url, immediate_writes)
    upgrade(engine, migrations)
    blobs = LocalBlobStore.from_url(settings.resolved_blob_url)
    return ServiceContext(settings=settings, sessions=make_session_factory(engine), blobs=blobs)


def run(definition: ServiceDefinition) -> int:
    """Run until SIGTERM/SIGINT; return the process exit code (0 on a clean stop)."""
    s = definition.settings
    configure_logging(s.service_name, s.instance_id, s.log_level, s.log_format)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    metrics_port = metrics.serve_metrics(s.metrics_port)
    ctx = build_context(s, definition.migrations, definition.immediate_writes)
    ensure_topics(s.kafka_bootstrap, all_topic_names(), partitions=s.topic_partitions)

    producer = make_producer(s.kafka_bootstrap, f"{s.service_name}-{s.instance_id}")
    relay = OutboxRelay(
        ctx.sessions, producer, s.service_name, s.instance_id, poll_interval_s=s.outbox_poll_interval_s
    )
    relay.start()
    ctx.notify_outbox = relay.notify
    consumer = ConsumerWorker(
        ConsumerConfig(
            bootstrap=s.kafka_bootstrap,
            group_id=s.group_id,
            service=s.service_name,
            instance_id=s.instance_id,
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms,
            max_poll_interval_ms=s.max_poll_interval_ms,
            poll_timeout_ms=s.poll_timeout_ms,
            max_poll_records=s.max_poll_records,
            max_attempts=s.handler_max_attempts,
            pause_before_offset_commit_s=s.fault_pause_before_offset_commit_s,
        ),
        definition.subscriptions(ctx),
        ctx.sessions,
        outbox=relay,
    )
    consumer.start()
    policy = AccessPolicy(required=s.auth_required, method_roles=definition.method_roles)
    auth: Authenticator = StaticTokens(s.auth_tokens)
    if definition.authenticator is not None:
        auth = definition.authenticator(ctx, auth)
    server = start_server(
        s.service_name,
        definition.grpc_services(ctx),
        s.grpc_host,
        s.grpc_port,
        policy,
        auth,
        s.grpc_max_workers,
        s.grpc_max_message_bytes,
        on_refused=definition.on_refused(ctx) if definition.on_refused else None,
        tls=s.grpc_tls,
    )
    tickers = [
        threading.Thread(target=_run_ticker, args=(t, stop), name=t.name, daemon=True)
        for t in definition.tickers(ctx)
    ]
    for thread in tickers:
        thread.start()
    log.info(
        "service ready",
        grpc_port=server.port,
        metrics_port=metrics_port,
        database=ctx.sessions.kw["bind"].url.render_as_string(hide_password=True),
    )

    exit_code = 0
    while not stop.wait(0.5):
        if not consumer.running:
            log.error(
                "consumer thread died; exiting so the supervisor restarts the service",
                error=repr(consumer.failed),
            )
            exit_code = 1
            break

    log.info("stopping")
    stop.set()  # tickers too, when the consumer died
    for thread in tickers:
        thread.join(s.shutdown_grace_s)
    server.set_serving(False)
    consumer.stop()  # finishes the in-flight record, commits its offset, leaves the group
    server.stop(s.shutdown_grace_s)
    relay.stop()  # drains what the last records enqueued
    producer.close(timeout=5)
    log.info("stopped", exit_code=exit_code)
    return exit_code


def main(settings_cls: type[ServiceSettings], build: Callable[[Any], ServiceDefinition]) -> None:
    """Entry point helper: a bad setting exits 2 with one readable line per variable."""
    try:
        settings = load_settings(settings_cls)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    raise SystemExit(run(build(settings)))
