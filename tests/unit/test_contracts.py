"""The generated protobuf code must match the .proto files (CI fails when it is stale)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_protos.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_detects_a_stale_file(tmp_path: Path) -> None:
    # Copy the repo's protos and scripts, change a .proto, and the check must fail.
    import shutil

    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    proto = tmp_path / "protos" / "common.proto"
    proto.write_text(proto.read_text().replace("string actor = 8;", "string actor = 8;\n  string extra = 9;"))
    result = subprocess.run(
        [sys.executable, "scripts/gen_protos.py", "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "common_pb2.py" in result.stdout
