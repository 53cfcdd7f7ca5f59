"""Who is calling: users from the settings (``[api.users]``) and the
``lakesmith.api_users`` table, checked with argon2; bearer tokens issued and read."""

from __future__ import annotations

import time
from typing import cast

from lakesmith.api.auth import (
    Principal,
    Role,
    hash_password,
    issue_token,
    read_token,
    verify_password,
)
from lakesmith.api.schemas import Token
from lakesmith.config import Settings
from lakesmith.stores.pg_pool import ConnectionPool

_CACHE_S = 5.0


class UserService:
    def __init__(self, settings: Settings, pool: ConnectionPool, secret: str) -> None:
        self.settings = settings
        self.pool = pool
        self.secret = secret
        self._table: dict[str, tuple[float, tuple[str, str] | None]] = {}

    def _lookup(self, name: str) -> tuple[str, str] | None:
        """``(hash, role)`` of ``name``: the settings first, then the table (cached briefly)."""
        configured = self.settings.api.users.get(name)
        if configured is not None:
            return configured.password_hash.get_secret_value(), configured.role
        hit = self._table.get(name)
        if hit is not None and time.monotonic() - hit[0] < _CACHE_S:
            return hit[1]
        from lakesmith.stores.users import find_user

        with self.pool.connection() as conn:
            found = find_user(conn, name)
        if len(self._table) > 10_000:
            self._table.clear()
        self._table[name] = (time.monotonic(), found)
        return found

    def authenticate(self, name: str, password: str) -> Principal | None:
        if not name or len(name) > 200 or len(password) > 1000:
            return None
        found = self._lookup(name)
        if not verify_password(found[0] if found else None, password) or found is None:
            return None
        return Principal(name, cast(Role, found[1]))

    def token(self, principal: Principal) -> Token:
        ttl = self.settings.api.token_ttl_s
        return Token(
            access_token=issue_token(self.secret, principal, ttl),
            expires_in=ttl,
            role=principal.role,
        )

    def from_token(self, token: str) -> Principal:
        return read_token(self.secret, token)

    def add(self, name: str, password: str, role: Role) -> None:
        from lakesmith.stores.users import upsert_user

        with self.pool.connection() as conn:
            upsert_user(conn, name, hash_password(password), role)
        self._table.pop(name, None)
