from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class AnnotateSettings(ServiceSettings):
    service_name: ClassVar[str] = "annotate"
    model_config = SettingsConfigDict(env_prefix="ANNOTATE_")

    grpc_port: int = Field(50055, ge=0, le=65535)
    metrics_port: int = Field(9105, ge=-1, le=65535)
