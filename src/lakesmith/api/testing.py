"""Test helpers for the REST API: settings with one user per role, credentials."""

from __future__ import annotations

import base64

from argon2 import PasswordHasher
from pydantic import SecretStr

from lakesmith.config import Settings
from lakesmith.config.api import ApiSettings, ApiUser

PASSWORDS = {"rita": "reader-pw-1", "walt": "writer-pw-1", "ada": "admin-pw-1"}
ROLES = {"rita": "reader", "walt": "writer", "ada": "admin"}
USER_OF = {role: name for name, role in ROLES.items()}
# cheap argon2 parameters for test users (the hash carries them): an auth matrix verifies
# hundreds of passwords; real users get argon2-cffi's defaults (api.auth.hash_password)
_CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def api_settings(settings: Settings, **api: object) -> Settings:
    """``settings`` with users rita (reader), walt (writer) and ada (admin)."""
    users = {
        name: ApiUser(password_hash=SecretStr(_CHEAP.hash(PASSWORDS[name])), role=role)
        for name, role in ROLES.items()
    }
    section = ApiSettings(users=users, **api)
    return settings.model_copy(update={"api": section})


def basic(role: str) -> dict[str, str]:
    name = USER_OF[role]
    token = base64.b64encode(f"{name}:{PASSWORDS[name]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bad_basic() -> dict[str, str]:
    token = base64.b64encode(b"rita:wrong-password").decode()
    return {"Authorization": f"Basic {token}"}
