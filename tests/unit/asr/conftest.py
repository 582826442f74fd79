"""Real weights and real audio for the CAM++ tests.

The weights come from the models dir (``$VOXLOOP_MODELS_DIR`` or ``~/.cache/voxloop/models``);
the project's test script provisions them. Missing weights FAIL the tests (never skip), with
the command that fixes it. The audio is pyannote.audio's own sample: 30 s, 16 kHz, two speakers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile
import torch
from pyannote.core import Annotation
from pyannote.database.util import load_rttm

from services.asr.campplus import SAMPLE_RATE, CAMPPlus, load_campplus
from shared.models import ModelsError, locate
from tests.samples import pyannote_sample


def provisioned(name: str) -> Path:
    """The model's folder, or a test failure that says how to provision it."""
    try:
        return locate(name)
    except ModelsError as error:
        problem = str(error)
    pytest.fail(f"{problem}. The CAM++ tests need real weights.", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread: on the 2-core CI machine, two OpenMP threads next to any other busy
    process spin on barriers (a 2 s clip took 2.6 s instead of 0.08 s here); one thread is steady."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def campplus_folder() -> Path:
    return provisioned("campplus-sv-zh-en-16k")


@pytest.fixture(scope="session")
def segmentation_folder() -> Path:
    return provisioned("pyannote-segmentation-3.0")


@pytest.fixture(scope="session")
def campplus(campplus_folder: Path) -> CAMPPlus:
    return load_campplus()


@pytest.fixture(scope="session")
def sample_waveform() -> torch.Tensor:
    """pyannote's sample.wav as (samples,) float32 in [-1, 1] at 16 kHz."""
    samples, rate = soundfile.read(pyannote_sample().wav, dtype="float32")
    assert rate == SAMPLE_RATE and samples.ndim == 1
    return torch.from_numpy(samples)


@pytest.fixture(scope="session")
def sample_reference() -> Annotation:
    """Reference speaker turns of the sample (sample.rttm): speaker90 and speaker91."""
    return load_rttm(str(pyannote_sample().rttm))["sample"]
