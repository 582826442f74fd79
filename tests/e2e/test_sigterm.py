"""Every service stops cleanly on SIGTERM: closes its consumer, drains its outbox, exits 0 (the
gateway, which has neither, stops its HTTP and gRPC servers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.grpc.healthcheck import check
from shared.stack.processes import SERVICES, env_prefix, free_port

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("service", SERVICES)
def test_sigterm_exits_zero(service: str, broker: str, tmp_path: Path) -> None:
    port = free_port()
    prefix = env_prefix(service)
    env = {
        **os.environ,
        "VOXLOOP_KAFKA_BOOTSTRAP": broker,
        "VOXLOOP_DATA_DIR": str(tmp_path),
        f"{prefix}GRPC_PORT": str(port),
        f"{prefix}METRICS_PORT": "0",
        f"{prefix}CONSUMER_GROUP": f"sigterm-{service}-{port}",
        "VOXLOOP_LOG_FORMAT": "json",
        f"{prefix}HTTP_PORT": "0",  # the gateway's page; the other services have none
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", f"services.{service}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not check(f"127.0.0.1:{port}", timeout_s=1):
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "service never became healthy"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert '"stopped"' in output
    # The gateway consumes nothing; every other service closes its consumer first.
    assert ('"consumer closed"' in output) == (service != "gateway"), output
