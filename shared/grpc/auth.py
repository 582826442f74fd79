"""Token authentication and role checks for every gRPC call.

Tokens are random strings given to people and systems; services only know their sha256
(``VOXLOOP_AUTH_TOKENS``), so a leaked settings file leaks no credential. The dispatch issue
keeps people's tokens in its database behind the same ``Authenticator`` protocol.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

from shared.settings import TokenSpec

# Probes and tooling must work without a token.
PUBLIC_SERVICES = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str] = field(default_factory=frozenset)
    languages: frozenset[str] = field(default_factory=frozenset)
    domains: frozenset[str] = field(default_factory=frozenset)

    def has_any_role(self, roles: Iterable[str]) -> bool:
        return "admin" in self.roles or bool(self.roles & set(roles))


ANONYMOUS = Principal("anonymous")
_current: ContextVar[Principal] = ContextVar("principal", default=ANONYMOUS)


def current_principal() -> Principal:
    """The caller of the gRPC method being served (set by the auth interceptor)."""
    return _current.get()


def set_principal(principal: Principal) -> object:
    return _current.set(principal)


def reset_principal(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


class Unauthenticated(Exception):
    pass


class PermissionDenied(Exception):
    def __init__(self, message: str, subject: str = "") -> None:
        super().__init__(message)
        self.subject = subject


class Authenticator(Protocol):
    def authenticate(self, token: str) -> Principal | None: ...


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "vxl_" + secrets.token_urlsafe(32)


class StaticTokens:
    """Tokens from settings: a dict from sha256 to the principal it stands for."""

    def __init__(self, specs: Sequence[TokenSpec]) -> None:
        self._by_hash = {
            s.sha256: Principal(s.subject, frozenset(s.roles), frozenset(s.languages)) for s in specs
        }

    def authenticate(self, token: str) -> Principal | None:
        return self._by_hash.get(hash_token(token))


@dataclass(frozen=True)
class AccessPolicy:
    """Who may call what: method -> roles. Methods not listed need any authenticated caller."""

    required: bool = True
    method_roles: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def check(self, method: str, metadata: Mapping[str, str], auth: Authenticator) -> Principal:
        if method.lstrip("/").split("/")[0] in PUBLIC_SERVICES:
            return ANONYMOUS
        header = metadata.get("authorization", "")
        scheme, _, token = header.partition(" ")
        principal = auth.authenticate(token) if scheme.lower() == "bearer" and token else None
        if principal is None:
            if not self.required:
                return ANONYMOUS
            raise Unauthenticated("missing or unknown token: send metadata 'authorization: Bearer <token>'")
        roles = self.method_roles.get(method)
        if roles and not principal.has_any_role(roles):
            raise PermissionDenied(
                f"{principal.subject} lacks a role for {method}: needs one of {sorted(roles)}",
                principal.subject,
            )
        return principal
