from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.quality.phrases import DEFAULT_PHRASES_PATH
from services.quality.policy import DEFAULT_POLICY_PATH
from shared.settings import ServiceSettings


class QualitySettings(ServiceSettings):
    service_name: ClassVar[str] = "quality"
    model_config = SettingsConfigDict(env_prefix="QUALITY_")

    grpc_port: int = Field(50053, ge=0, le=65535)
    metrics_port: int = Field(9103, ge=-1, le=65535)

    policy_path: Path = DEFAULT_POLICY_PATH  # routing rules per tenant, domain and language
    phrases_path: Path = DEFAULT_PHRASES_PATH  # known hallucination phrases per language
    max_attempts: int = Field(2, ge=1, le=5)  # decodes per segment: the draft + safe re-decodes
    accept_after_redecode: bool = False  # a once-flagged segment still goes to a person
    double_blind_share: float = Field(0.05, ge=0, le=1)  # of human-review segments
    gold_rate: float = Field(0.02, ge=0, le=1)  # gold segments per human-review segment
    gold_accuracy_threshold: float = Field(0.9, ge=0, le=1)  # linguists under it are flagged
    min_gold_segments: int = Field(3, ge=1)
    target_residual_wer: float = Field(0.05, gt=0, lt=1)  # of auto-accepted text, per language
    calibration_min_samples: int = Field(50, ge=1)  # corrections before a language's threshold is trusted
    calibration_interval_s: float = Field(60.0, gt=0)
    drift_baseline_samples: int = Field(50, ge=1)
    drift_absolute_rise: float = Field(0.05, ge=0)
    drift_relative_rise: float = Field(0.5, ge=0)
    drift_min_samples: int = Field(50, ge=1)  # segments seen before any drift alert
    drift_smoothing: float = Field(0.05, gt=0, le=1)  # EWMA weight of the newest segment
