from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class FeedbackSettings(ServiceSettings):
    service_name: ClassVar[str] = "feedback"
    model_config = SettingsConfigDict(env_prefix="FEEDBACK_")

    grpc_port: int = Field(50056, ge=0, le=65535)
    metrics_port: int = Field(9106, ge=-1, le=65535)
