from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.stack import stack
from shared.stack.processes import StackState


@pytest.fixture(scope="module")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    """The whole embedded stack, as `voxloop up` starts it, on free ports."""
    home = tmp_path_factory.mktemp("stack")
    state = stack.up(home, stack.StackPorts.free())
    yield state
    stack.down(home)


def service_db(state: StackState, service: str) -> sqlite3.Connection:
    return sqlite3.connect(Path(state.home) / "data" / f"{service}.db")


def grpc_port(state: StackState, service: str) -> int:
    return next(p.grpc_port for p in state.services if p.name == service)
