"""Storage: SQLAlchemy engines, the plumbing tables every service has, and migrations."""

from shared.db.engine import make_engine, make_session_factory
from shared.db.migrate import upgrade
from shared.db.tables import Base, InboxEntry, OutboxEntry, SegmentRecord

__all__ = [
    "Base",
    "InboxEntry",
    "OutboxEntry",
    "SegmentRecord",
    "make_engine",
    "make_session_factory",
    "upgrade",
]
