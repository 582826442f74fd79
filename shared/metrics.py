"""Prometheus metrics, one set per process; every series carries the service label."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

MESSAGES = Counter(
    "voxloop_messages_total",
    "Messages consumed, by outcome (handled, duplicate, dead_lettered).",
    ["service", "topic", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "voxloop_handler_seconds",
    "Time to handle one message, database commit included.",
    ["service", "topic"],
)
PUBLISHED = Counter(
    "voxloop_outbox_published_total",
    "Messages relayed from the outbox to Kafka.",
    ["service", "topic"],
)
OUTBOX_PENDING = Gauge("voxloop_outbox_pending", "Outbox rows not yet sent.", ["service"])
GRPC_REQUESTS = Counter(
    "voxloop_grpc_requests_total",
    "gRPC calls by method and status code.",
    ["service", "method", "code"],
)
GRPC_SECONDS = Histogram("voxloop_grpc_seconds", "gRPC call latency.", ["service", "method"])
HTTP_REQUESTS = Counter(
    "voxloop_http_requests_total",
    "HTTP requests of the browser gateway, by route and status.",
    ["service", "route", "status"],
)


def serve_metrics(port: int, host: str = "0.0.0.0") -> int | None:
    """Start the /metrics endpoint; port 0 picks a free one, -1 disables it. Returns the port."""
    if port < 0:
        return None
    server, _thread = start_http_server(port, addr=host)
    return int(server.server_address[1])
