"""``voxloop feedback``: the ML team's commands against a running feedback service: freeze a
dataset snapshot, list snapshots, export one, review the vocabulary mined from corrections."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import grpc
import typer
from rich.console import Console
from rich.table import Table

from protos import feedback_pb2, feedback_pb2_grpc
from services.dispatch.connection import DEFAULT_HOME, Home, fail
from shared.stack import stack
from shared.stack.processes import StackState

feedback_app = typer.Typer(
    help="Datasets and the feedback loop: snapshots, exports, vocabulary.", no_args_is_help=True
)
out = Console()

Server = Annotated[str, typer.Option(help="Feedback gRPC address HOST:PORT; default: the local stack's.")]
Token = Annotated[
    str,
    typer.Option(
        envvar="VOXLOOP_TOKEN",
        help="A token with the ml_engineer (or admin) role; default: the local stack's admin token.",
        show_default=False,
    ),
]


def _target(server: str, home: Path) -> str:
    if server:
        return server
    state = StackState.load(home.resolve())
    found = next((p for p in state.services if p.name == "feedback"), None) if state else None
    if found is None:
        fail(f"no feedback service running under {home}; start it with `voxloop up` or pass --server")
    return f"127.0.0.1:{found.grpc_port}"


def _token(token: str, home: Path) -> str:
    if token:
        return token
    if not stack.token_path(home.resolve()).exists():
        fail(f"no admin token under {home}; start the stack with `voxloop up` or pass --token")
    return stack.admin_token(home.resolve())


@contextmanager
def _stub(server: str, token: str, home: Path) -> Iterator[tuple[Any, tuple[tuple[str, str], ...]]]:
    """A stub and the call metadata; a refusal becomes one red line and exit status 1."""
    target, metadata = _target(server, home), (("authorization", f"Bearer {_token(token, home)}"),)
    try:
        with grpc.insecure_channel(target) as channel:
            yield feedback_pb2_grpc.FeedbackServiceStub(channel), metadata  # type: ignore[no-untyped-call]
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details()
        if code == grpc.StatusCode.UNAVAILABLE:
            fail(f"could not reach the feedback service at {target}: {details}")
        fail(f"refused: {code.name}: {details}")


def snapshots_table(snapshots: list[feedback_pb2.DatasetSnapshot]) -> Table:
    table = Table(title="dataset snapshots")
    for col in (
        "snapshot",
        "created",
        "language",
        "examples",
        "train",
        "dev",
        "test",
        "dropped",
        "protected",
        "path",
    ):
        table.add_column(col)
    for s in snapshots:
        by = {p.split: p for p in s.splits}
        table.add_row(
            s.snapshot_id,
            s.created_at.ToDatetime().strftime("%Y-%m-%d %H:%M"),
            s.language or "all",
            str(s.examples),
            *(
                f"{by[n].examples} ({by[n].hours * 60:.1f} min)" if n in by else "0"
                for n in ("train", "dev", "test")
            ),
            str(s.duplicates_dropped),
            str(s.protected_examples),
            s.path,
        )
    return table


@feedback_app.command("snapshot")
def snapshot(
    language: Annotated[str, typer.Option(help="Only this language (BCP-47); default: all.")] = "",
    note: Annotated[str, typer.Option(help="Why this snapshot was made.")] = "",
    server: Server = "",
    token: Token = "",
    home: Home = DEFAULT_HOME,
) -> None:
    """Freeze every validated example into a snapshot with speaker-disjoint splits."""
    with _stub(server, token, home) as (stub, metadata):
        made = stub.CreateSnapshot(
            feedback_pb2.CreateSnapshotRequest(language=language, note=note), metadata=metadata, timeout=120
        )
    out.print(snapshots_table([made]))


@feedback_app.command("snapshots")
def snapshots(server: Server = "", token: Token = "", home: Home = DEFAULT_HOME) -> None:
    """List the snapshots, oldest first."""
    with _stub(server, token, home) as (stub, metadata):
        found = stub.ListSnapshots(feedback_pb2.ListSnapshotsRequest(), metadata=metadata, timeout=30)
    out.print(snapshots_table(list(found.snapshots)))


@feedback_app.command("export")
def export(
    snapshot_id: str,
    formats: Annotated[
        list[str] | None, typer.Option("--format", help="A format (repeat); default: all.")
    ] = None,
    server: Server = "",
    token: Token = "",
    home: Home = DEFAULT_HOME,
) -> None:
    """Write a snapshot in the formats ML teams use (docs/datasets.md)."""
    request = feedback_pb2.ExportSnapshotRequest(snapshot_id=snapshot_id, formats=formats or [])
    with _stub(server, token, home) as (stub, metadata):
        written = stub.ExportSnapshot(request, metadata=metadata, timeout=600)
    table = Table(title=f"exports of {written.snapshot_id}")
    for col in ("format", "files", "path"):
        table.add_column(col)
    for e in written.exports:
        table.add_row(e.format, str(e.files), e.path)
    out.print(table)


@feedback_app.command("vocabulary")
def vocabulary(
    domain: Annotated[str, typer.Option(help="Only this domain; default: all.")] = "",
    state: Annotated[str, typer.Option(help="candidate, approved or rejected; default: all.")] = "",
    server: Server = "",
    token: Token = "",
    home: Home = DEFAULT_HOME,
) -> None:
    """Terms linguists kept inserting or substituting, per domain, and their review state."""
    request = feedback_pb2.ListVocabularyRequest(domain=domain, state=state)
    with _stub(server, token, home) as (stub, metadata):
        found = stub.ListVocabulary(request, metadata=metadata, timeout=30)
    table = Table(title="vocabulary mined from corrections")
    for col in ("term id", "domain", "lang", "term", "draft had", "times", "recordings", "state", "by"):
        table.add_column(col)
    for t in found.terms:
        table.add_row(
            t.term_id, t.domain, t.language or "all", t.term, t.mistaken_as, str(t.occurrences),
            str(t.recordings), t.state, t.reviewed_by,
        )  # fmt: skip
    out.print(table)


def _review(term_id: str, approve: bool, server: str, token: str, home: Path) -> None:
    with _stub(server, token, home) as (stub, metadata):
        term = stub.ReviewTerm(
            feedback_pb2.ReviewTermRequest(term_id=term_id, approve=approve), metadata=metadata, timeout=30
        )
    out.print(
        f"{term.term!r} ({term.domain}, {term.language or 'all'}): {term.state}; the domain's approved "
        "vocabulary went to the ASR service as hotwords"
    )


@feedback_app.command("approve")
def approve(term_id: str, server: Server = "", token: Token = "", home: Home = DEFAULT_HOME) -> None:
    """Approve a mined term: the ASR service decodes that domain with it from now on."""
    _review(term_id, True, server, token, home)


@feedback_app.command("reject")
def reject(term_id: str, server: Server = "", token: Token = "", home: Home = DEFAULT_HOME) -> None:
    """Reject a mined term (an approved one leaves the domain's hotwords)."""
    _review(term_id, False, server, token, home)
