"""Fixtures for the model provisioning tests; the synthetic wheels are built in model_wheels.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_wheels import Synthetic, make_synthetic


@pytest.fixture
def synthetic(tmp_path: Path) -> Synthetic:
    return make_synthetic(tmp_path)


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"
