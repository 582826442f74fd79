"""voxloop: run the embedded stack, provision models, manage topics and tokens."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared.grpc.auth import hash_token, new_token
from shared.models.cli import app as models_app
from shared.stack import stack
from shared.stack.processes import StackState

app = typer.Typer(help="voxloop: multilingual transcription and annotation platform.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics of the flow.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(token_app, name="token")
app.add_typer(models_app, name="models", help="Offline models: fetch, list, verify.")

console = Console()
Home = Annotated[
    Path, typer.Option(envvar="VOXLOOP_HOME", help="Where the stack keeps its state, logs and data.")
]
DEFAULT_HOME = Path(".voxloop")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    )


def _status_table(home: Path) -> Table:
    table = Table(title=f"voxloop stack ({home.resolve()})")
    for col in ("process", "pid", "alive", "health", "grpc", "metrics", "log"):
        table.add_column(col)
    for row in stack.status(home):
        health = "-" if row.healthy is None else ("[green]SERVING" if row.healthy else "[red]NOT SERVING")
        alive = "[green]yes" if row.alive else "[red]no"
        port = f"kafka {row.grpc_port}" if row.healthy is None else str(row.grpc_port)
        metrics = f"http://127.0.0.1:{row.metrics_port}/metrics" if row.metrics_port else "-"
        table.add_row(row.name, str(row.pid), alive, health, port, metrics, row.log)
    return table


def _up(home: Path, broker_port: int, free_ports: bool = False) -> StackState:
    with _progress() as progress:
        task = progress.add_task("starting", total=8)

        def hook(step: str, done: int, total: int) -> None:
            progress.update(task, description=step, completed=done, total=total)

        try:
            ports = stack.StackPorts.free() if free_ports else stack.StackPorts.defaults(broker_port)
            state = stack.up(home, ports, hook=hook)
        except stack.StackError as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from None
    console.print(_status_table(home))
    return state


@app.command()
def up(
    home: Home = DEFAULT_HOME,
    broker_port: Annotated[int, typer.Option(help="Kafka listener port.")] = 9092,
    free_ports: Annotated[bool, typer.Option(help="Pick free ports instead of the defaults.")] = False,
) -> None:
    """Start the broker, create topics, start every service, wait until all are healthy."""
    _up(home, broker_port, free_ports)
    console.print("stack is up; `voxloop status` shows it, `voxloop down` stops it.")


@app.command()
def status(home: Home = DEFAULT_HOME) -> None:
    """Show every process of the stack and its gRPC health (exit 1 if anything is down)."""
    rows = stack.status(home)
    if not rows:
        console.print(f"no stack running from {home.resolve()}")
        raise typer.Exit(1)
    console.print(_status_table(home))
    if not all(r.alive and r.healthy is not False for r in rows):
        raise typer.Exit(1)


@app.command()
def down(home: Home = DEFAULT_HOME) -> None:
    """Stop services (they finish their in-flight message) and the broker."""
    with _progress() as progress:
        task = progress.add_task("stopping", total=7)
        stopped = stack.down(
            home,
            hook=lambda step, done, total: progress.update(
                task, description=step, completed=done, total=total
            ),
        )
    console.print(f"stopped {len(stopped)} processes" if stopped else "no stack was running")


@app.command()
def demo(
    home: Home = DEFAULT_HOME,
    broker_port: Annotated[int, typer.Option(help="Kafka listener port.")] = 9092,
    keep_running: Annotated[bool, typer.Option(help="Leave the stack up afterwards.")] = False,
) -> None:
    """Start the stack (if needed), send one audio chunk, follow it to transcripts.validated.v1."""
    from shared.stack.demo import run_demo, trace_hops

    state = StackState.load(home.resolve())
    started_here = state is None
    if started_here:
        state = _up(home, broker_port)
    assert state is not None
    try:
        with console.status("following one chunk through the flow..."):
            chunk, received = run_demo(state.bootstrap)
        segment_id = f"{chunk.stream_id}:000000"
        table = Table(title=f"stream {chunk.stream_id}: state of each hop, from each service's gRPC API")
        for col in ("service", "rpc", "recorded", "detail"):
            table.add_column(col)
        ports = {p.name: p.grpc_port for p in state.services}
        hops = trace_hops(ports, stack.admin_token(home.resolve()), chunk.stream_id, segment_id)
        for hop in hops:
            table.add_row(hop.service, hop.rpc, "[green]yes" if hop.found else "[red]no", hop.detail)
        console.print(table)
        arrived = sorted({r.topic for r in received})
        console.print(f"arrived on: {', '.join(arrived) or 'nothing'}")
        if len(arrived) < 2 or not all(h.found for h in hops):
            console.print(
                f"[red]the chunk did not make it through; see the logs in {home.resolve() / 'logs'}"
            )
            raise typer.Exit(1)
        console.print("[green]one chunk travelled through all six services.")
    finally:
        if started_here and not keep_running:
            stack.down(home)


@topics_app.command("create")
def topics_create(
    bootstrap: Annotated[str, typer.Option(envvar="VOXLOOP_KAFKA_BOOTSTRAP")] = "127.0.0.1:9092",
    partitions: Annotated[int, typer.Option(min=1)] = 4,
    replication: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Create every topic of the flow and its dead-letter topic (idempotent)."""
    from shared.kafka.admin import ensure_topics
    from shared.topics import all_topic_names

    created = ensure_topics(bootstrap, all_topic_names(), partitions, replication)
    console.print(f"created {len(created)} topics" + (": " + ", ".join(created) if created else ""))


@topics_app.command("list")
def topics_list() -> None:
    """The topics of the flow and their message types."""
    from shared.topics import ALL_TOPICS

    table = Table("topic", "message", "dead-letter topic")
    for t in ALL_TOPICS:
        table.add_row(t.name, t.message_type.DESCRIPTOR.full_name, t.dead_letter)
    console.print(table)


@token_app.command("new")
def token_new(
    subject: Annotated[str, typer.Option(help="Who the token is for.")],
    role: Annotated[list[str], typer.Option(help="Role; repeat for several.")],
    language: Annotated[list[str] | None, typer.Option(help="Language scope; repeat.")] = None,
) -> None:
    """Make a token: prints it once, and the entry to add to VOXLOOP_AUTH_TOKENS."""
    token = new_token()
    entry = {"sha256": hash_token(token), "subject": subject, "roles": role, "languages": language or []}
    console.print(f"token (shown once): {token}")
    console.print(f"VOXLOOP_AUTH_TOKENS entry: {json.dumps(entry)}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
