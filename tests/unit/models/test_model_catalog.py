"""The real catalog is well formed: every pin is a sha256, every wheel name matches its pin."""

from __future__ import annotations

import re

import pytest

from shared.models import CATALOG
from shared.models.catalog import wheel_prefix
from shared.models.errors import UnknownModel

SHA256 = re.compile(r"^[0-9a-f]{64}$")


def test_the_three_models_and_their_folders() -> None:
    folders = {spec.name: spec.folder for spec in CATALOG.models.values()}
    assert folders == {
        "whisper-base": "whisper-base",
        "pyannote-segmentation-3.0": "pyannote-segmentation-3.0",
        "campplus-sv-zh-en-16k": "campplus",
    }


@pytest.mark.parametrize("name", CATALOG.names())
def test_pins_are_well_formed(name: str) -> None:
    spec = CATALOG.get(name)
    assert spec.licence.spdx in {"MIT", "Apache-2.0"} and spec.licence.upstream
    assert len({f.path for f in spec.files}) == len(spec.files)
    assert not set(spec.extra_names) & {f.path for f in spec.files}
    for target in spec.files:
        assert SHA256.match(target.sha256) and target.size_bytes > 0 and target.parts
    for wheel in spec.wheels:
        assert SHA256.match(wheel.sha256)
        assert wheel.filename.startswith(wheel_prefix(wheel.project, wheel.version))
        assert wheel.filename.endswith(".whl")
        assert re.fullmatch(r"\d+(\.\d+)*", wheel.version)  # exact pins, not ranges


def test_whisper_model_bin_is_two_parts_with_the_known_hash() -> None:
    model_bin = CATALOG.get("whisper-base").pinned["model.bin"]
    assert [p.member.rsplit("/", 1)[1] for p in model_bin.parts] == ["model.bin.part1", "model.bin.part2"]
    assert model_bin.size_bytes == 145_217_607
    assert model_bin.sha256.startswith("905e5bf8") and model_bin.sha256.endswith("1a57")


def test_campplus_is_the_plain_state_dict_not_the_cuda_trace() -> None:
    members = [p.member for f in CATALOG.get("campplus-sv-zh-en-16k").files for p in f.parts]
    assert not [m for m in members if "traced" in m]
    assert "campplus_cn_en_common.pt" in CATALOG.get("campplus-sv-zh-en-16k").pinned


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownModel, match="M001: unknown model 'whisper-huge'.*whisper-base"):
        CATALOG.get("whisper-huge")
