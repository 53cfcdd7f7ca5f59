"""``[api]``: the REST API (``lakesmith serve``): where it listens, its users and secrets.

Owned by the API work (``lakesmith.api``). Secrets: ``jwt_secret`` signs the bearer
tokens; unset (or a placeholder) is refused unless the stack is the local one, where a
secret is generated into the state dir. Users come from ``users`` (argon2 hashes, made by
``lakesmith api hash-password``) and from the ``lakesmith.api_users`` table
(``lakesmith api user-add``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from lakesmith.config.fields import Section

Role = Literal["reader", "writer", "admin"]


class ApiUser(Section):
    """One user of ``[api.users]``: ``alice = {password_hash = "$argon2id$…", role = "reader"}``."""

    password_hash: SecretStr
    role: Role = "reader"


class ApiSettings(Section):
    """The REST API's settings (``LAKESMITH__API__…``)."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    jwt_secret: SecretStr | None = Field(
        None,
        description="HMAC key of the bearer tokens; generated into the state dir when unset "
        "and the stack is local, required otherwise",
    )
    token_ttl_s: int = Field(3600, ge=10, description="bearer token lifetime")
    users: dict[str, ApiUser] = Field(default_factory=dict)
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="largest upload")
    max_page_size: int = Field(1000, ge=1, description="largest ?limit= of a list")
    pdf_max_pages: int = Field(500, ge=1, description="pages an uploaded PDF may have")
    pdf_max_stream_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="decompressed bytes per PDF stream"
    )
    pdf_max_total_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="decompressed page content per PDF"
    )
    db_pool_size: int = Field(
        40, ge=1, description="PostgreSQL connections (one per request thread at most)"
    )
    migrate_on_start: bool = Field(True, description="apply missing warehouse migrations")
