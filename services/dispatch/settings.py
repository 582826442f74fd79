from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class DispatchSettings(ServiceSettings):
    service_name: ClassVar[str] = "dispatch"
    model_config = SettingsConfigDict(env_prefix="DISPATCH_")

    grpc_port: int = Field(50054, ge=0, le=65535)
    metrics_port: int = Field(9104, ge=-1, le=65535)
