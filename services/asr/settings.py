from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class AsrSettings(ServiceSettings):
    service_name: ClassVar[str] = "asr"
    model_config = SettingsConfigDict(env_prefix="ASR_")

    grpc_port: int = Field(50052, ge=0, le=65535)
    metrics_port: int = Field(9102, ge=-1, le=65535)
