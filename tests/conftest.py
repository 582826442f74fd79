"""Real parts for the tests: a Kafka-protocol broker (Tansu from PyPI) and PostgreSQL databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from shared.stack.processes import free_port, start_broker, stop_process

PG_ADMIN_DSN = os.environ.get("VOXLOOP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One broker for the session; tests isolate themselves with their own ids and groups."""
    port = free_port()
    proc = start_broker(port, tmp_path_factory.mktemp("broker") / "broker.log")
    yield f"127.0.0.1:{port}"
    stop_process(proc.pid)


@pytest.fixture
def make_pg_url() -> Iterator[Callable[[], str]]:
    """Create fresh PostgreSQL databases (dropped afterwards); returns SQLAlchemy URLs."""
    created: list[str] = []

    def make() -> str:
        name = f"vx_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        return f"{base}/{name}"

    yield make
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, make_pg_url: Callable[[], str]) -> str:
    """Every storage test runs on both backends; neither is ever skipped."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'service.db'}"
    return make_pg_url()
