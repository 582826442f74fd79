"""Typed settings shared by every service.

Each service has one settings model with its own environment prefix (``INGEST_``, ``ASR_``...);
the common prefix ``VOXLOOP_`` is read as a fallback, so one variable can configure the whole
stack while a service-specific one overrides it (``ASR_LOG_LEVEL`` beats ``VOXLOOP_LOG_LEVEL``).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url

COMMON_PREFIX = "VOXLOOP_"


class TokenSpec(BaseModel):
    """An API token as services see it: only its sha256, never the token itself."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    subject: str = Field(min_length=1)
    roles: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set ``service_name`` and ``env_prefix``."""

    service_name: ClassVar[str] = "service"
    model_config = SettingsConfigDict(extra="ignore", validate_default=True)

    kafka_bootstrap: str = "127.0.0.1:9092"
    consumer_group: str = ""  # empty: the service name
    session_timeout_ms: int = Field(6000, ge=1000, le=300_000)
    heartbeat_interval_ms: int = Field(1000, ge=100)
    max_poll_interval_ms: int = Field(300_000, ge=1000)
    poll_timeout_ms: int = Field(500, ge=10)
    max_poll_records: int = Field(50, ge=1)
    handler_max_attempts: int = Field(3, ge=1, le=20)
    topic_partitions: int = Field(4, ge=1)

    data_dir: Path = Path(".voxloop/data")
    database_url: str = ""  # empty: sqlite:///<data_dir>/<service>.db
    blob_url: str = ""  # empty: file://<data_dir>/blobs
    models_dir: Path = Path.home() / ".cache" / "voxloop" / "models"

    grpc_host: str = "0.0.0.0"
    grpc_port: int = Field(50050, ge=0, le=65535)
    grpc_max_workers: int = Field(8, ge=1)
    # gRPC's own default is 4 MiB, too small for a recording uploaded in one call.
    grpc_max_message_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    metrics_port: int = Field(0, ge=-1, le=65535)  # 0: any free port, -1: disabled
    # TLS for the gRPC port: PEM files; both empty: plaintext (inside a cluster behind a mesh).
    grpc_tls_cert: Path | None = None
    grpc_tls_key: Path | None = None

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    instance_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")

    auth_required: bool = True
    auth_tokens: list[TokenSpec] = Field(default_factory=list)

    outbox_poll_interval_s: float = Field(1.0, gt=0)  # enqueuers wake the relay; this is the fallback
    shutdown_grace_s: float = Field(5.0, ge=0)
    # Fault injection for crash tests: sleep after the database commit and before the offset
    # commit, the window in which a crash must neither lose nor duplicate anything.
    fault_pause_before_offset_commit_s: float = Field(0.0, ge=0)

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_has_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {server!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: str) -> str:
        if value:
            url = make_url(value)
            if url.get_backend_name() not in {"sqlite", "postgresql"}:
                raise ValueError("only sqlite:// and postgresql+psycopg:// URLs are supported")
        return value

    @field_validator("blob_url")
    @classmethod
    def _blob_url_scheme(cls, value: str) -> str:
        if value and not value.startswith("file://"):
            raise ValueError("only file:// blob stores are supported, e.g. file:///var/lib/blobs")
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> ServiceSettings:
        if (self.grpc_tls_cert is None) != (self.grpc_tls_key is None):
            raise ValueError("grpc_tls_cert and grpc_tls_key go together: set both or neither")
        for path in (self.grpc_tls_cert, self.grpc_tls_key):
            if path is not None and not path.is_file():
                raise ValueError(f"TLS file {path} does not exist")
        return self

    @property
    def grpc_tls(self) -> tuple[bytes, bytes] | None:
        if self.grpc_tls_cert is None or self.grpc_tls_key is None:
            return None
        return self.grpc_tls_cert.read_bytes(), self.grpc_tls_key.read_bytes()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        common = EnvSettingsSource(settings_cls, env_prefix=COMMON_PREFIX)
        return init_settings, env_settings, common, dotenv_settings, file_secret_settings

    @property
    def group_id(self) -> str:
        return self.consumer_group or self.service_name

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir.resolve()}/{self.service_name}.db"

    @property
    def resolved_blob_url(self) -> str:
        return self.blob_url or f"file://{(self.data_dir / 'blobs').resolve()}"


class SettingsError(Exception):
    """Raised with one readable line per bad variable."""


S = TypeVar("S", bound=ServiceSettings)


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build settings from the environment, turning pydantic's errors into variable names."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        prefix = cls.model_config.get("env_prefix", "")
        lines = []
        for err in exc.errors():
            field = str(err["loc"][0]).upper() if err["loc"] else "?"
            got = err.get("input")
            lines.append(f"{prefix}{field} (or {COMMON_PREFIX}{field}): {err['msg']} (got {got!r})")
        raise SettingsError(f"invalid {cls.service_name} settings:\n  " + "\n  ".join(lines)) from None
