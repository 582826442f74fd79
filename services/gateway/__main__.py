"""python -m services.gateway: the browser client and its JSON bridge to dispatch.

Wiring only. Unlike the other services the gateway owns no tables and consumes no topic, so it
does not use the consumer runtime; it still serves gRPC health (the stack and Kubernetes probe
it like the others) and Prometheus metrics, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading

from services.gateway.bridge import DispatchBridge
from services.gateway.settings import GatewaySettings
from services.gateway.web import GatewayServer
from shared import metrics
from shared.grpc.auth import AccessPolicy, StaticTokens
from shared.grpc.server import start_server
from shared.logging import configure_logging, get_logger
from shared.settings import SettingsError, load_settings

log = get_logger(__name__)


def run(s: GatewaySettings) -> int:
    configure_logging(s.service_name, s.instance_id, s.log_level, s.log_format)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    metrics_port = metrics.serve_metrics(s.metrics_port)
    bridge = DispatchBridge(s.dispatch_target, s.quality_target, s.quality_token, s.call_timeout_s)
    http = GatewayServer(bridge, s.http_host, s.http_port, s.static_dir, s.max_body_bytes).start()
    health = start_server(
        s.service_name,
        [],
        s.grpc_host,
        s.grpc_port,
        AccessPolicy(required=s.auth_required),
        StaticTokens(s.auth_tokens),
        tls=s.grpc_tls,
    )
    log.info(
        "service ready",
        http_port=http.port,
        grpc_port=health.port,
        metrics_port=metrics_port,
        dispatch=s.dispatch_target,
    )
    stop.wait()
    log.info("stopping")
    health.set_serving(False)
    http.stop()
    health.stop(s.shutdown_grace_s)
    bridge.close()
    log.info("stopped", exit_code=0)
    return 0


def main() -> None:
    try:
        settings = load_settings(GatewaySettings)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    raise SystemExit(run(settings))


if __name__ == "__main__":
    main()
