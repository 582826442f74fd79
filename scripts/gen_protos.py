"""Generate Python code for protos/*.proto: one reproducible command.

Usage: python scripts/gen_protos.py [--check]
With --check, generates into a temporary folder and exits 1 if the committed code differs,
so CI fails when someone edits a .proto without regenerating.
"""

from __future__ import annotations

import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(out_root: Path) -> None:
    """Compile every .proto with the repo root as include path, so imports read protos.x_pb2."""
    (out_root / "protos").mkdir(parents=True, exist_ok=True)
    sources = sorted(str(p.relative_to(ROOT)) for p in PROTOS.glob("*.proto"))
    well_known = str(Path(protoc.__file__).parent / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={Path(sys.executable).parent / 'protoc-gen-mypy'}",
        f"--python_out={out_root}",
        f"--mypy_out={out_root}",
        f"--grpc_python_out={out_root}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed; see the message above")


def generated_files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.endswith(GENERATED_SUFFIXES)}


def main() -> int:
    check = "--check" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = Path(tmp) / "protos"
        if check:
            names = generated_files(fresh) | generated_files(PROTOS)
            stale = sorted(
                n
                for n in names
                if not (PROTOS / n).exists()
                or not (fresh / n).exists()
                or not filecmp.cmp(PROTOS / n, fresh / n, shallow=False)
            )
            if stale:
                print("generated protobuf code is stale: " + ", ".join(stale))
                print("run: python scripts/gen_protos.py")
                return 1
            print(f"generated protobuf code is up to date ({len(names)} files)")
            return 0
        for old in generated_files(PROTOS):
            (PROTOS / old).unlink()
        for new in generated_files(fresh):
            shutil.copy2(fresh / new, PROTOS / new)
        print(f"generated {len(generated_files(PROTOS))} files in protos/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
