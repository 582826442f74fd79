"""Where the command line connects, and how it reports refusals: the linguist's saved login
(``work login``, a file only they can read), explicit ``--server/--token``, or the local stack's
dispatch service and admin token. A refusal is one red line and exit status 1, never a traceback."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn

import grpc
import typer
from rich.console import Console
from rich.text import Text

from services.dispatch.client import DispatchClient, DispatchError
from shared.stack import stack
from shared.stack.processes import StackState

out = Console()
err = Console(stderr=True)

CONFIG_ENV = "VOXLOOP_CLIENT_CONFIG"
DEFAULT_HOME = Path(".voxloop")

Server = Annotated[str, typer.Option(help="Dispatch gRPC address HOST:PORT; default: from `work login`.")]
Token = Annotated[
    str,
    typer.Option(envvar="VOXLOOP_TOKEN", help="Your token; default: from `work login`.", show_default=False),
]
Local = Annotated[bool, typer.Option("--local", help="Use the local stack (--home) and its admin token.")]
Home = Annotated[
    Path, typer.Option(envvar="VOXLOOP_HOME", help="Where the local stack keeps its state, logs and data.")
]
AdminServer = Annotated[
    str, typer.Option(help="Dispatch gRPC address HOST:PORT; default: the local stack's.")
]
AdminToken = Annotated[
    str,
    typer.Option(
        envvar="VOXLOOP_ADMIN_TOKEN", help="Admin token; default: the local stack's.", show_default=False
    ),
]


@dataclass(frozen=True)
class Connection:
    server: str
    token: str
    ca_cert: Path | None = None


def fail(message: str) -> NoReturn:
    err.print(Text(message, style="red"), soft_wrap=True)  # one line, however long
    raise typer.Exit(1)


def config_path() -> Path:
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override)
    config_home = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config_home) / "voxloop" / "client.json"


def save_login(conn: Connection) -> Path:
    """Write the login where only its owner can read it (it holds a bearer token)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {"server": conn.server, "token": conn.token, "ca_cert": str(conn.ca_cert or "")}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.chmod(tmp, 0o600)  # an older tmp file may have had a wider mode
    tmp.replace(path)
    return path


def load_login() -> Connection | None:
    path = config_path()
    try:
        data = json.loads(path.read_text())
        return Connection(
            data["server"], data["token"], Path(data["ca_cert"]) if data.get("ca_cert") else None
        )
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        fail(f"cannot read {path} ({exc}); run `voxloop work login` again")


def _local_server(home: Path) -> str:
    state = StackState.load(home.resolve())
    found = next((p for p in state.services if p.name == "dispatch"), None) if state else None
    if found is None:
        fail(f"no dispatch service running under {home}; start it with `voxloop up` or pass --server")
    return f"127.0.0.1:{found.grpc_port}"


def _local_token(home: Path) -> str:
    if not stack.token_path(home.resolve()).exists():
        fail(f"no admin token under {home}; start the stack with `voxloop up` or pass --token")
    return stack.admin_token(home.resolve())


def work_connection(server: str, token: str, local: bool, home: Path) -> Connection:
    """--local: the local stack as its admin; else the options, falling back to the saved login."""
    if local:
        return Connection(server or _local_server(home), token or _local_token(home))
    saved = load_login()
    server, token = server or (saved.server if saved else ""), token or (saved.token if saved else "")
    if not server or not token:
        fail(
            "not logged in: run `voxloop work login --server HOST:PORT --token TOKEN`"
            " (or pass --server and --token; --local uses the local stack's admin token)"
        )
    return Connection(server, token, saved.ca_cert if saved and saved.server == server else None)


def admin_connection(server: str, token: str, home: Path) -> Connection:
    return Connection(server or _local_server(home), token or _local_token(home))


@contextmanager
def connected(conn: Connection) -> Iterator[DispatchClient]:
    """A client; a refusal becomes one red line and exit status 1, never a traceback."""
    if conn.ca_cert is not None and not conn.ca_cert.is_file():
        fail(f"no CA certificate at {conn.ca_cert}; run `voxloop work login --ca-cert FILE` again")
    try:
        with DispatchClient(conn.server, conn.token, conn.ca_cert) as client:
            yield client
    except DispatchError as exc:
        if exc.code == grpc.StatusCode.UNAVAILABLE:
            fail(f"could not reach the dispatch server at {conn.server}: {exc.message}")
        fail(f"refused: {exc.code.name}: {exc.message}")
