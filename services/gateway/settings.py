from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

STATIC_DIR = Path(__file__).parent / "static"


class GatewaySettings(ServiceSettings):
    """The gateway owns no tables and consumes no topic: it serves the page and forwards calls."""

    service_name: ClassVar[str] = "gateway"
    model_config = SettingsConfigDict(env_prefix="GATEWAY_")

    grpc_port: int = Field(50057, ge=0, le=65535)  # health and reflection only
    metrics_port: int = Field(9107, ge=-1, le=65535)
    http_host: str = "0.0.0.0"
    http_port: int = Field(8080, ge=0, le=65535)
    dispatch_target: str = "127.0.0.1:50054"
    quality_target: str = "127.0.0.1:50053"
    # The quality service knows only its static tokens, not dispatch's people: the gateway asks it
    # for linguist figures with this token, after dispatch has said the caller is a QA lead.
    quality_token: str = ""
    call_timeout_s: float = Field(30.0, gt=0)
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    static_dir: Path = STATIC_DIR
