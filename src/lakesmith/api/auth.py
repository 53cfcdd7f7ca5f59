"""Passwords (argon2), bearer tokens (JWT, HS256) and the signing secret.

The secret comes from ``[api] jwt_secret``. When it is unset and the stack is the local
one (no ``postgres.dsn`` configured), a secret is generated into the state dir like the
local services' passwords; otherwise the server refuses to start. Placeholders
(``change-me``, ``secret``…) and short secrets are refused the same way."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from lakesmith.config import Settings
from lakesmith.core.errors import ConfigError
from lakesmith.core.secrets import get_or_create_secret

Role = Literal["reader", "writer", "admin"]
RANK: dict[str, int] = {"reader": 0, "writer": 1, "admin": 2}
ALGORITHM = "HS256"
PLACEHOLDERS = {"", "changeme", "change-me", "change_me", "secret", "password", "xxx", "todo"}
MIN_SECRET = 32

_hasher = PasswordHasher()
# verifying an unknown user costs the same as a known one (no user enumeration by timing)
_DUMMY_HASH = _hasher.hash("lakesmith-no-such-user")


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role

    def can(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]


class TokenError(Exception):
    """A bearer token that is malformed, badly signed or expired (``reason`` says)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def is_local_stack(settings: Settings) -> bool:
    """Whether the services are the no-Docker local stack (no PostgreSQL DSN configured)."""
    return settings.postgres.dsn is None


def signing_secret(settings: Settings) -> str:
    """The JWT signing secret, or ``ConfigError`` when it is missing or a placeholder
    outside the local stack."""
    configured = settings.api.jwt_secret
    value = configured.get_secret_value() if configured is not None else ""
    weak = value.strip().lower() in PLACEHOLDERS or len(value) < MIN_SECRET
    if not weak:
        return value
    if is_local_stack(settings):
        return get_or_create_secret(settings.state_dir, "api_jwt_secret")
    raise ConfigError(
        "the API's jwt_secret is unset or a placeholder (it must be at least "
        f"{MIN_SECRET} characters), and the stack is not the local one",
        hint="set LAKESMITH__API__JWT_SECRET (e.g. `python -c 'import secrets; "
        "print(secrets.token_urlsafe(48))'`)",
    )


def issue_token(secret: str, principal: Principal, ttl_s: int, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "sub": principal.name,
        "role": principal.role,
        "iat": issued,
        "exp": issued + ttl_s,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(secret: str, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp", "role"]}
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("the token has expired") from None
    except jwt.PyJWTError:
        raise TokenError("the token is invalid") from None
    role = claims.get("role")
    if role not in RANK or not isinstance(claims.get("sub"), str):
        raise TokenError("the token is invalid")
    return Principal(claims["sub"], role)
