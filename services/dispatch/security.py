"""People, their tokens, and who they are on each call.

Tokens are issued by an admin (``IssueToken``, or ``voxloop dispatch token issue``), shown once and
stored as sha256; revoking one takes effect on the next call (each call looks its hash up).
The settings' static tokens (service accounts, the stack's bootstrap admin) keep working beside them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from protos import dispatch_pb2
from services.dispatch.rules import ROLES, Person
from services.dispatch.store import DispatchToken, DispatchUser
from services.dispatch.tasks import Refused, audit
from shared.grpc.auth import Authenticator, Principal, Unauthenticated, hash_token, new_token


class DatabaseTokens:
    """Tokens from the dispatch database first, then the static ones from settings."""

    def __init__(self, sessions: sessionmaker[Session], fallback: Authenticator) -> None:
        self._sessions = sessions
        self._fallback = fallback

    def authenticate(self, token: str) -> Principal | None:
        """One query per call (token and person together), so a revocation counts at once."""
        now = time.time()
        with self._sessions() as session:
            found = session.execute(
                select(DispatchToken, DispatchUser)
                .join(DispatchUser, DispatchUser.subject == DispatchToken.subject, isouter=True)
                .where(DispatchToken.sha256 == hash_token(token))
            ).first()
            if found is not None:
                row, user = found
                # Said precisely, so a linguist knows to ask for a new token rather than retype it.
                if row.revoked_at:
                    raise Unauthenticated(f"token {row.token_id} was revoked: ask an admin for a new one")
                if row.expires_at and row.expires_at < now:
                    at = datetime.fromtimestamp(row.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
                    raise Unauthenticated(f"token {row.token_id} expired at {at}: ask an admin for a new one")
                if not user or not user.active:
                    raise Unauthenticated(f"{row.subject} is disabled or unknown: ask an admin")
                return Principal(
                    user.subject, frozenset(user.roles), frozenset(user.languages), frozenset(user.domains)
                )
        return self._fallback.authenticate(token)


def person_of(principal: Principal) -> Person:
    """Static service tokens carry no domains: an admin needs none, others get none."""
    return Person(principal.subject, principal.roles, principal.languages, principal.domains)


def _clean(values: Iterable[str], what: str) -> list[str]:
    out = sorted({v.strip() for v in values if v.strip()})
    for v in out:
        if len(v) > 64 or " " in v:
            raise Refused("INVALID_ARGUMENT", f"{what}: {v!r} is not a valid entry")
    return out


def upsert_user(session: Session, actor: str, user: dispatch_pb2.User) -> dispatch_pb2.User:
    subject = user.subject.strip()
    if not subject or len(subject) > 200:
        raise Refused("INVALID_ARGUMENT", "User.subject is required (at most 200 characters)")
    roles = _clean(user.roles, "User.roles")
    if unknown := sorted(set(roles) - set(ROLES)):
        raise Refused("INVALID_ARGUMENT", f"User.roles: unknown {unknown}; known: {list(ROLES)}")
    row = session.get(DispatchUser, subject)
    before = to_message(row) if row else None
    if row is None:
        row = DispatchUser(subject=subject)
        session.add(row)
    row.display_name = user.display_name or subject
    row.roles = roles
    row.languages = _clean(user.languages, "User.languages")
    row.domains = _clean(user.domains, "User.domains")
    row.active = user.active
    session.flush()
    after = to_message(row)
    audit(session, actor, "UpsertUser", detail=f"{before} -> {after}".replace("\n", " "), task_id="")
    return after


def to_message(row: DispatchUser) -> dispatch_pb2.User:
    return dispatch_pb2.User(
        subject=row.subject,
        display_name=row.display_name,
        roles=row.roles,
        languages=row.languages,
        domains=row.domains,
        active=row.active,
    )


def issue_token(
    session: Session, actor: str, subject: str, ttl_days: int, label: str
) -> dispatch_pb2.IssuedToken:
    user = session.get(DispatchUser, subject)
    if user is None:
        raise Refused("NOT_FOUND", f"no user {subject!r}: create them with UpsertUser first")
    if ttl_days < 0:
        raise Refused("INVALID_ARGUMENT", f"ttl_days must be 0 (no expiry) or more, got {ttl_days}")
    token = new_token()
    now = time.time()
    row = DispatchToken(
        token_id=uuid.uuid4().hex[:16],
        sha256=hash_token(token),
        subject=subject,
        label=label,
        created_at=now,
        expires_at=now + ttl_days * 86400.0 if ttl_days else 0.0,
        revoked_at=0.0,
    )
    session.add(row)
    audit(session, actor, "IssueToken", detail=f"token {row.token_id} for {subject}")
    issued = dispatch_pb2.IssuedToken(token=token, token_id=row.token_id, subject=subject)
    if row.expires_at:
        issued.expires_at.FromNanoseconds(int(row.expires_at * 1e9))
    return issued


def revoke_tokens(session: Session, actor: str, token_id: str, subject: str) -> int:
    if not token_id and not subject:
        raise Refused("INVALID_ARGUMENT", "RevokeToken needs token_id or subject")
    query = select(DispatchToken).where(DispatchToken.revoked_at == 0.0)
    query = (
        query.where(DispatchToken.token_id == token_id)
        if token_id
        else query.where(DispatchToken.subject == subject)
    )
    rows = session.scalars(query).all()
    now = time.time()
    for row in rows:
        row.revoked_at = now
    audit(session, actor, "RevokeToken", detail=f"revoked {[r.token_id for r in rows]}")
    return len(rows)


def make_refusal_auditor(sessions: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    """Write every call the interceptor refused (no token, revoked token, missing role)."""

    def on_refused(method: str, subject: str, code: str, message: str) -> None:
        with sessions.begin() as session:
            audit(
                session,
                subject or "anonymous",
                method.rsplit("/", 1)[-1],
                allowed=False,
                outcome=code,
                detail=message,
            )

    return on_refused
