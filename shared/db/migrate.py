"""Run Alembic migrations from code at service start, safely when replicas start together."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same in every replica of every service.
_PG_LOCK_KEY = 0x766F786C6F6F70


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """Serialise migrations: a PostgreSQL advisory lock, or a lock file beside the SQLite file.

    For SQLite the file lock is taken before connecting: replicas opening a fresh database
    together would otherwise race to switch it to WAL, and SQLite answers one of them
    "database is locked" at once instead of waiting.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            try:
                yield conn
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        with engine.connect() as conn:
            yield conn
        return
    with open(f"{database}.migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def upgrade(engine: Engine, extra_version_locations: Sequence[Path] = (), target: str = "heads") -> None:
    """Bring the database to the newest revision: plumbing tables plus a service's own ones
    (``target``: a named revision instead, for tests of a migration's data carry-over)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    locations = [MIGRATIONS_DIR / "versions", *extra_version_locations]
    cfg.set_main_option("version_locations", ":".join(str(p) for p in locations))
    with _migration_lock(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)
        conn.commit()
