from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class FeedbackSettings(ServiceSettings):
    service_name: ClassVar[str] = "feedback"
    model_config = SettingsConfigDict(env_prefix="FEEDBACK_")

    grpc_port: int = Field(50056, ge=0, le=65535)
    metrics_port: int = Field(9106, ge=-1, le=65535)

    # Snapshots and their exports: <datasets_dir>/<snapshot_id>/; empty: <data_dir>/datasets.
    datasets_dir: Path | None = None
    # How often the loop looks for enough new material (retraining, vocabulary).
    loop_interval_s: float = Field(60.0, gt=0)
    # ASR: a retraining request (with a fresh snapshot) once this much newly corrected speech
    # has arrived since the last request, or at once on a drift alert from the quality gate.
    asr_retrain_hours: float = Field(10.0, gt=0)
    # Text classifiers: retrain a language's sentiment or intent model once this many new
    # human-reviewed labels have arrived; promote only if better on the fixed held-out set.
    classifier_min_new_labels: int = Field(50, ge=1)
    classifier_retraining: bool = True
    # Vocabulary: a term is proposed for review once linguists inserted or substituted it this
    # often, in this many distinct recordings.
    vocabulary_min_occurrences: int = Field(2, ge=1)
    vocabulary_min_recordings: int = Field(2, ge=1)

    @property
    def resolved_datasets_dir(self) -> Path:
        return (self.datasets_dir or self.data_dir / "datasets").resolve()
