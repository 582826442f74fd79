"""Hashing, atomic writes and the state of a provisioned model folder.

Files are written under a temporary name and renamed into place only when complete, so an
interrupted run can never leave a half file that looks like a finished one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO

from shared.models.card import FileRecord, ModelCard, read_card
from shared.models.catalog import ModelSpec
from shared.models.progress import Phase, ProgressEvent, ProgressHook, no_progress

CHUNK_BYTES = 1 << 20  # 1 MiB: streams 100 MB members without holding them in memory


def _file_mode() -> int:
    """The mode a plain ``open()`` would give, since mkstemp's files are private (0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class AtomicWriter:
    """Writes ``path`` through a temp file in the same folder, hashing what it writes.

    The rename happens only when the ``with`` block ends without an exception.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size_bytes = 0
        self._hash = hashlib.sha256()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        self._tmp = Path(tmp)
        self._handle: BinaryIO = os.fdopen(fd, "wb")

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def write(self, chunk: bytes) -> None:
        self._handle.write(chunk)
        self._hash.update(chunk)
        self.size_bytes += len(chunk)

    def record(self, relative: str) -> FileRecord:
        return FileRecord(path=relative, sha256=self.sha256, size_bytes=self.size_bytes)

    def __enter__(self) -> AtomicWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self._handle.flush()
                os.fsync(self._handle.fileno())
            self._handle.close()
            if exc_type is None:
                os.chmod(self._tmp, _file_mode())
                os.replace(self._tmp, self.path)
        finally:
            self._tmp.unlink(missing_ok=True)


def copy_stream(
    source: IO[bytes],
    writer: AtomicWriter,
    *,
    progress: ProgressHook,
    task: str,
    phase: Phase,
    total: int | None,
    done_before: int = 0,
) -> int:
    """Copy in chunks, reporting bytes done; returns the bytes copied."""
    done = done_before
    while chunk := source.read(CHUNK_BYTES):
        writer.write(chunk)
        done += len(chunk)
        progress(ProgressEvent(task, phase, done, total))
    return done - done_before


def hash_file(path: Path, progress: ProgressHook = no_progress, task: str = "") -> FileRecord:
    """sha256 and size of a file on disk (reported as a ``verify`` task when ``task`` is set)."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            done += len(chunk)
            if task:
                progress(ProgressEvent(task, "verify", done, total))
    return FileRecord(path=path.name, sha256=digest.hexdigest(), size_bytes=done)


class Status(StrEnum):
    VERIFIED = "verified"  # every pinned file present with its pinned sha256
    UNPINNED = "unpinned"  # another copy accepted with --no-verify, intact against its card
    CORRUPT = "corrupt"  # a file missing or with the wrong sha256
    MISSING = "missing"  # not provisioned


@dataclass(frozen=True)
class ModelState:
    spec: ModelSpec
    folder: Path
    status: Status
    card: ModelCard | None
    problems: tuple[str, ...] = ()


def _mismatches(
    folder: Path,
    expected: dict[str, str],
    required: set[str],
    progress: ProgressHook,
    label: str,
) -> list[str]:
    problems: list[str] = []
    for name, sha256 in expected.items():
        path = folder / name
        if not path.is_file():
            if name in required:
                problems.append(f"{name}: missing")
            continue
        actual = hash_file(path, progress, f"{label}/{name}").sha256
        if actual != sha256:
            problems.append(f"{name}: expected sha256 {sha256}, got {actual}")
    return problems


def check_model(spec: ModelSpec, models_dir: Path, progress: ProgressHook = no_progress) -> ModelState:
    """Hash a model's folder against the catalog's pins, or its own card for unpinned copies."""
    folder = models_dir / spec.folder
    card = read_card(folder)
    present = [n for n in spec.candidate_names if (folder / n).is_file()]
    if card is None and not present:
        return ModelState(spec, folder, Status.MISSING, None)
    if card is not None and not card.pinned:
        expected = {f.path: f.sha256 for f in card.files}
        problems = _mismatches(folder, expected, set(expected), progress, spec.name)
        status = Status.CORRUPT if problems else Status.UNPINNED
        return ModelState(spec, folder, status, card, tuple(problems))
    pins = {f.path: f.sha256 for f in spec.files}
    required = {f.path for f in spec.files if f.required}
    problems = _mismatches(folder, pins, required, progress, spec.name)
    status = Status.CORRUPT if problems else Status.VERIFIED
    return ModelState(spec, folder, status, card, tuple(problems))
