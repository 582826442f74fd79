from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services.asr.settings import AsrSettings
from services.ingest.settings import IngestSettings
from shared.settings import SettingsError, load_settings


def test_service_prefix_overrides_common_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXLOOP_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("ASR_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("VOXLOOP_KAFKA_BOOTSTRAP", "kafka:9092")
    asr = load_settings(AsrSettings)
    ingest = load_settings(IngestSettings)
    assert asr.log_level == "DEBUG" and ingest.log_level == "WARNING"
    assert asr.kafka_bootstrap == ingest.kafka_bootstrap == "kafka:9092"
    assert asr.grpc_port == 50052 and ingest.grpc_port == 50051


def test_defaults_are_embedded(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VOXLOOP_DATA_DIR", str(tmp_path))
    s = load_settings(IngestSettings)
    assert s.resolved_database_url == f"sqlite:///{tmp_path}/ingest.db"
    assert s.resolved_blob_url == f"file://{tmp_path}/blobs"
    assert s.group_id == "ingest"


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        ("INGEST_GRPC_PORT", "abc", "INGEST_GRPC_PORT"),
        ("VOXLOOP_KAFKA_BOOTSTRAP", "localhost", "expected host:port"),
        ("INGEST_DATABASE_URL", "mysql://x/y", "only sqlite"),
        ("INGEST_LOG_FORMAT", "xml", "INGEST_LOG_FORMAT"),
        ("VOXLOOP_AUTH_TOKENS", '[{"sha256": "nothex", "subject": "a"}]', "AUTH_TOKENS"),
        ("INGEST_SESSION_TIMEOUT_MS", "10", "greater than or equal to 1000"),
    ],
)
def test_bad_value_is_named(monkeypatch: pytest.MonkeyPatch, variable: str, value: str, needle: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as err:
        load_settings(IngestSettings)
    assert needle in str(err.value)


def test_service_refuses_to_start_with_a_clear_message() -> None:
    env = {**os.environ, "INGEST_GRPC_PORT": "not-a-port"}
    result = subprocess.run(
        [sys.executable, "-m", "services.ingest"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "INGEST_GRPC_PORT" in result.stderr and "valid integer" in result.stderr
