"""Bring the whole embedded stack up, report its status, take it down."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shared.grpc.auth import hash_token, new_token
from shared.grpc.healthcheck import check
from shared.kafka.admin import ensure_topics
from shared.stack.processes import (
    DEFAULT_GRPC_PORTS,
    DEFAULT_HTTP_PORT,
    DEFAULT_METRICS_PORTS,
    SERVICES,
    ProcessInfo,
    StackState,
    free_port,
    pid_alive,
    port_open,
    start_broker,
    start_service,
    stop_process,
)
from shared.topics import all_topic_names

Hook = Callable[[str, int, int], None]  # (step, done, total): progress without printing


class StackError(RuntimeError):
    pass


def token_path(home: Path) -> Path:
    return home / "admin.token"


def admin_token(home: Path) -> str:
    return token_path(home).read_text().strip()


def _secret(path: Path) -> str:
    """A token kept in a file readable by its owner only, made on first use."""
    if not path.exists():
        path.write_text(new_token())
        path.chmod(0o600)
    return path.read_text().strip()


def auth_env(home: Path) -> dict[str, str]:
    """A fresh admin token per stack; services get its hash. The quality service also accepts
    the gateway's own token (no role), with which it reads the linguist figures for QA leads."""
    admin = {"sha256": hash_token(_secret(token_path(home))), "subject": "stack-admin", "roles": ["admin"]}
    gateway = {"sha256": hash_token(_secret(home / "gateway.token")), "subject": "gateway", "roles": []}
    return {"VOXLOOP_AUTH_TOKENS": json.dumps([admin]), "QUALITY_AUTH_TOKENS": json.dumps([admin, gateway])}


def gateway_env(home: Path, ports: StackPorts) -> dict[str, str]:
    return {
        "GATEWAY_DISPATCH_TARGET": f"127.0.0.1:{ports.grpc['dispatch']}",
        "GATEWAY_QUALITY_TARGET": f"127.0.0.1:{ports.grpc['quality']}",
        "GATEWAY_QUALITY_TOKEN": _secret(home / "gateway.token"),
    }


@dataclass(frozen=True)
class StackPorts:
    broker: int
    grpc: dict[str, int]
    metrics: dict[str, int]
    http: int = DEFAULT_HTTP_PORT  # the gateway's page

    @classmethod
    def defaults(cls, broker: int = 9092, http: int = DEFAULT_HTTP_PORT) -> StackPorts:
        return cls(broker, dict(DEFAULT_GRPC_PORTS), dict(DEFAULT_METRICS_PORTS), http)

    @classmethod
    def free(cls) -> StackPorts:
        """Random free ports, for tests that run beside a developer's own stack."""
        grpc, metrics = {s: free_port() for s in SERVICES}, {s: free_port() for s in SERVICES}
        return cls(free_port(), grpc, metrics, free_port())


def up(
    home: Path,
    ports: StackPorts | None = None,
    services: tuple[str, ...] = SERVICES,
    extra_env: dict[str, str] | None = None,
    hook: Hook = lambda *_: None,
    timeout_s: float = 90.0,
) -> StackState:
    """Start broker, topics and services; return once every service answers SERVING."""
    home = home.resolve()
    existing = StackState.load(home)
    if existing and pid_alive(existing.broker.pid):
        raise StackError(
            f"a stack is already running from {home} (broker pid {existing.broker.pid}); "
            "run `voxloop down` first"
        )
    ports = ports or StackPorts.defaults()
    if port_open(ports.broker):
        raise StackError(f"port {ports.broker} is taken; choose another with --broker-port")
    if "gateway" in services and port_open(ports.http):
        raise StackError(f"port {ports.http} is taken; choose another with --http-port")
    home.mkdir(parents=True, exist_ok=True)
    total = 2 + len(services)
    hook("broker", 0, total)
    broker = start_broker(ports.broker, home / "logs" / "broker.log")
    bootstrap = f"127.0.0.1:{ports.broker}"
    state = StackState(home=str(home), bootstrap=bootstrap, broker=broker)
    state.save()
    hook("topics", 1, total)
    ensure_topics(bootstrap, all_topic_names())
    env = {**auth_env(home), **(extra_env or {})}
    for name in services:
        if name == "gateway":
            gateway = {**env, **gateway_env(home, ports)}
            proc = start_service(
                name, home, bootstrap, ports.grpc[name], ports.metrics[name], gateway, http_port=ports.http
            )
        else:
            proc = start_service(name, home, bootstrap, ports.grpc[name], ports.metrics[name], env)
        state.services.append(proc)
    state.save()
    try:
        _wait_serving(state, total, timeout_s, hook)
    except StackError:
        down(home)  # leave no broker or half a stack behind
        raise
    return state


def _wait_serving(state: StackState, total: int, timeout_s: float, hook: Hook) -> None:
    pending = {s.name: s for s in state.services}
    deadline = time.monotonic() + timeout_s
    while pending:
        for name, proc in list(pending.items()):
            if not pid_alive(proc.pid):
                raise StackError(f"{name} exited during start; see {proc.log}")
            if check(f"127.0.0.1:{proc.grpc_port}", timeout_s=1):
                del pending[name]
                hook(name, total - len(pending), total)
        if pending and time.monotonic() > deadline:
            raise StackError(f"not healthy after {timeout_s:.0f}s: {sorted(pending)}")
        time.sleep(0.2)


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int
    alive: bool
    healthy: bool | None  # None for the broker (no gRPC health)
    grpc_port: int
    metrics_port: int
    log: str
    http_port: int = 0


def status(home: Path) -> list[ProcessStatus]:
    state = StackState.load(home.resolve())
    if state is None:
        return []
    rows = [
        ProcessStatus(
            "broker",
            state.broker.pid,
            pid_alive(state.broker.pid),
            None,
            state.broker.grpc_port,
            0,
            state.broker.log,
        )
    ]
    for proc in state.services:
        alive = pid_alive(proc.pid)
        healthy = alive and check(f"127.0.0.1:{proc.grpc_port}", timeout_s=1)
        rows.append(
            ProcessStatus(
                proc.instance_id or proc.name,
                proc.pid,
                alive,
                healthy,
                proc.grpc_port,
                proc.metrics_port,
                proc.log,
                proc.http_port,
            )
        )
    return rows


def down(home: Path, hook: Hook = lambda *_: None) -> list[ProcessInfo]:
    """Stop services (SIGTERM, they finish their in-flight message), then the broker."""
    home = home.resolve()
    state = StackState.load(home)
    if state is None:
        return []
    procs = [*state.services, state.broker]
    for i, proc in enumerate(procs):
        stop_process(proc.pid)
        hook(proc.instance_id or proc.name, i + 1, len(procs))
    StackState.path(home).unlink(missing_ok=True)
    return procs
