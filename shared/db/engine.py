"""Engines for SQLite (the embedded default) and PostgreSQL (production), tuned for services."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def _switch_to_wal(cursor: Any, attempts: int = 50) -> None:
    """Set WAL, retrying: the switch needs an exclusive lock, and when several processes open a
    fresh database together SQLite refuses the losers with "locked" without calling the busy
    handler (it would deadlock). WAL persists in the file, so later connections only read it."""
    for attempt in range(attempts):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.02 * (attempt + 1))


def make_engine(url: str, immediate_writes: bool = False) -> Engine:
    """Create an engine; SQLite gets WAL and a busy timeout so several processes can share it.

    ``immediate_writes``: every SQLite transaction starts with BEGIN IMMEDIATE, for services
    whose many threads read-then-write (dispatch's gRPC workers). A deferred transaction that
    read before another committed cannot upgrade to a writer and fails at once ("database is
    locked"); an immediate one waits its turn under the busy timeout instead. It also makes
    SAVEPOINTs work on SQLite (SQLAlchemy's documented pysqlite recipe)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args: dict[str, Any] = {"timeout": 30}
        if immediate_writes:
            connect_args["isolation_level"] = None  # the driver leaves BEGIN to the hook below
        engine = create_engine(url, connect_args=connect_args)

        if immediate_writes:

            @event.listens_for(engine, "begin")
            def _begin_immediate(conn: Any) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            _switch_to_wal(cursor)
            # With WAL, NORMAL syncs at checkpoints rather than on every commit: a crashed
            # process loses nothing committed, only a power cut can lose the last commits.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
