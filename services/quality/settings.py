from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class QualitySettings(ServiceSettings):
    service_name: ClassVar[str] = "quality"
    model_config = SettingsConfigDict(env_prefix="QUALITY_")

    grpc_port: int = Field(50053, ge=0, le=65535)
    metrics_port: int = Field(9103, ge=-1, le=65535)
