from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.dispatch.tasks import QueueConfig
from shared.settings import ServiceSettings


class DispatchSettings(ServiceSettings):
    service_name: ClassVar[str] = "dispatch"
    model_config = SettingsConfigDict(env_prefix="DISPATCH_")

    grpc_port: int = Field(50054, ge=0, le=65535)
    metrics_port: int = Field(9104, ge=-1, le=65535)
    # 50 linguists claim and submit at once; each call is one short transaction.
    grpc_max_workers: int = Field(32, ge=1)

    lease_s: float = Field(300.0, gt=0, le=86_400)
    lease_check_interval_s: float = Field(1.0, gt=0)
    max_rejections: int = Field(2, ge=0, le=20)
    qa_sample_rate: float = Field(0.1, ge=0.0, le=1.0)
    sla_high_s: float = Field(4 * 3600.0, gt=0)
    sla_medium_s: float = Field(24 * 3600.0, gt=0)
    sla_low_s: float = Field(72 * 3600.0, gt=0)
    skill_domains: list[str] = Field(default_factory=lambda: ["medical", "legal", "finance"])
    context_segments: int = Field(1, ge=0, le=10)
    guidelines_url: str = "docs/transcription-guidelines.md"

    def queue_config(self) -> QueueConfig:
        return QueueConfig(
            lease_s=self.lease_s,
            max_rejections=self.max_rejections,
            qa_sample_rate=self.qa_sample_rate,
            sla_s={"high": self.sla_high_s, "medium": self.sla_medium_s, "low": self.sla_low_s},
            skill_domains=tuple(d.lower() for d in self.skill_domains),
        )
