from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.stack import stack
from shared.stack.demo import linguist_crew
from shared.stack.processes import StackState


@pytest.fixture(scope="module")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    """The whole embedded stack, as `voxloop up` starts it, on free ports, with an annotator and
    a reviewer (simulated, through the client library) working the dispatch queue."""
    home = tmp_path_factory.mktemp("stack")
    state = stack.up(home, stack.StackPorts.free())
    try:
        with linguist_crew(f"127.0.0.1:{grpc_port(state, 'dispatch')}", stack.admin_token(home)):
            yield state
    finally:
        stack.down(home)


def service_db(state: StackState, service: str) -> sqlite3.Connection:
    return sqlite3.connect(Path(state.home) / "data" / f"{service}.db")


def grpc_port(state: StackState, service: str) -> int:
    return state.grpc_port(service)
