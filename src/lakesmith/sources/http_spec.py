"""The ``http`` source kind's contract section (kept apart from the client so a contract
loads without importing httpx).

Secrets never appear in a contract: ``auth`` names the environment variables that hold
them (``token_env: LAKESMITH_TICKETS_TOKEN``); they are read when the source opens, held
as ``SecretStr`` and never logged (see docs/http-source.md).
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal
from urllib.parse import urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from lakesmith.contracts.model import SourceSpec
from lakesmith.core.errors import ConfigError

# parameter and header names that carry credentials: they belong in ``auth``
_SECRET_NAMES = re.compile(r"(?i)(authorization|api[-_]?key|token|secret|password|passwd)")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _secret_from_env(name: str, what: str) -> SecretStr:
    value = os.environ.get(name)
    if not value:
        raise ConfigError(
            f"the http source's {what} is read from ${name}, which is not set",
            hint=f"export {name}=… (the contract names the variable, never the secret)",
        )
    return SecretStr(value)


class BearerAuth(_Section):
    """``auth: {type: bearer, token_env: LAKESMITH_TICKETS_TOKEN}`` → ``Authorization: Bearer …``"""

    type: Literal["bearer"]
    token_env: str = Field(description="environment variable holding the token")

    def secrets(self) -> dict[str, SecretStr]:
        return {"token": _secret_from_env(self.token_env, "bearer token")}


class BasicAuth(_Section):
    """``auth: {type: basic, username: etl, password_env: LAKESMITH_TICKETS_PASSWORD}``"""

    type: Literal["basic"]
    username: str | None = Field(None, description="the user name (not a secret)")
    username_env: str | None = Field(None, description="or the variable holding it")
    password_env: str = Field(description="environment variable holding the password")

    def secrets(self) -> dict[str, SecretStr]:
        user = self.username
        if user is None:
            if self.username_env is None:
                raise ConfigError("basic auth needs username or username_env")
            user = _secret_from_env(self.username_env, "user name").get_secret_value()
        return {
            "username": SecretStr(user),
            "password": _secret_from_env(self.password_env, "password"),
        }


class ApiKeyAuth(_Section):
    """``auth: {type: api_key, name: X-Api-Key, in: header, key_env: LAKESMITH_TICKETS_KEY}``
    (``in: query`` sends it as a query parameter; it is still never logged nor stored)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True
    )

    type: Literal["api_key"]
    name: str = Field("X-Api-Key", description="header or query parameter name")
    in_: Literal["header", "query"] = Field("header", alias="in")
    key_env: str = Field(description="environment variable holding the key")

    def secrets(self) -> dict[str, SecretStr]:
        return {"key": _secret_from_env(self.key_env, "API key")}


AuthSpec = Annotated[BearerAuth | BasicAuth | ApiKeyAuth, Field(discriminator="type")]


class PaginationSpec(_Section):
    """How to get the next page.

    - ``page``: ``page_param`` = ``start``, ``start + 1``, … (``size_param`` = ``size``);
    - ``offset``: ``offset_param`` = 0, n, 2n, … (``limit_param`` = ``size``);
    - ``cursor``: a token at ``next_path`` in the body, sent back as ``cursor_param``;
    - ``next_url``: the next page's URL at ``next_path`` in the body;
    - ``link``: the ``Link: <…>; rel="next"`` response header (RFC 8288);
    - ``none``: one request per pass.

    ``page``/``offset`` stop at an empty page (or a short one when ``stop_on_short_page``);
    the others when the body or header names no next page (or a page has no records).
    """

    style: Literal["page", "offset", "cursor", "next_url", "link", "none"] = "none"
    size: int | None = Field(None, ge=1, description="records per page to ask for")
    size_param: str | None = Field(
        None, description="parameter carrying size (default: per_page / limit)"
    )
    page_param: str = "page"
    start: int = Field(1, ge=0, description="the first page's number")
    offset_param: str = "offset"
    cursor_param: str = "cursor"
    next_path: str | None = Field(
        None, description="dotted path of the next token / URL in the body (cursor, next_url)"
    )
    stop_on_short_page: bool = Field(
        True, description="page/offset: a page shorter than size is the last one"
    )

    @model_validator(mode="after")
    def _complete(self) -> PaginationSpec:
        if self.style in ("cursor", "next_url") and not self.next_path:
            raise ValueError(f"pagination style {self.style!r} needs next_path (e.g. meta.next)")
        return self

    @property
    def size_name(self) -> str:
        return self.size_param or ("limit" if self.style == "offset" else "per_page")


class IncrementalSpec(_Section):
    """The incremental cursor: each pass asks for records changed since the last one.

    ``field`` is the record's dotted path (``updated_at``); after a pass its greatest value
    is committed with the data and sent as ``param`` on the next pass. Values compare as
    ``type``: ``string`` (ISO-8601 timestamps in one format and zone compare as text),
    ``timestamp`` (parsed, any ISO-8601 offset) or ``integer`` (ids, epoch seconds)."""

    field: str
    param: str = Field(description="query parameter the value is sent as (e.g. updated_since)")
    initial: str | None = Field(None, description="value of the first pass; none: not sent")
    type: Literal["string", "timestamp", "integer"] = "string"


class RetrySpec(_Section):
    attempts: int = Field(6, ge=1, description="tries per request (429, 5xx, timeouts, bad body)")
    backoff_s: float = Field(0.5, gt=0, description="first back-off, doubling, with jitter")
    max_backoff_s: float = Field(30.0, gt=0)
    max_retry_after_s: float = Field(
        120.0, gt=0, description="a longer Retry-After is an error, not a wait"
    )


class HttpSourceSpec(SourceSpec):
    """``source: {kind: http, url: https://api.example.com/v2/tickets, records_path: data,
    pagination: {style: cursor, next_path: meta.next_cursor}, incremental: {field:
    updated_at, param: updated_since}, auth: {type: bearer, token_env: TICKETS_TOKEN}}``"""

    kind: Literal["http"] = "http"
    url: str = Field(description="the endpoint: base URL and path (http:// or https://)")
    url_env: str | None = Field(
        None,
        description="environment variable that, when set, replaces the scheme, host and port "
        "of url (the same contract against staging or a local test service)",
    )
    params: dict[str, str] = Field({}, description="fixed query parameters (no secrets)")
    headers: dict[str, str] = Field({}, description="fixed request headers (no secrets)")
    auth: AuthSpec | None = None
    records_path: str = Field(
        "", description="dotted path of the records array in the body; '' = the body is one"
    )
    pagination: PaginationSpec = PaginationSpec()
    incremental: IncrementalSpec | None = None
    rate_limit_per_s: float | None = Field(None, gt=0, description="max requests per second")
    timeout_s: float = Field(30.0, gt=0, description="connect/read timeout per request")
    retry: RetrySpec = RetrySpec()
    max_pages: int | None = Field(
        None, ge=1, description="pages per run; the rest waits for the next run (same cursor)"
    )
    max_page_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="a larger body is an error")
    poll_interval_s: float = Field(60.0, gt=0, description="seconds between passes when running")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url {v!r} must be http(s)://host/path")
        if parts.username or parts.password:
            raise ValueError("url must not hold credentials: use auth (basic) with password_env")
        if parts.query or parts.fragment:
            raise ValueError("give query parameters as params:, not in url")
        return v

    @field_validator("params", "headers")
    @classmethod
    def _no_secrets(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if _SECRET_NAMES.search(name):
                raise ValueError(
                    f"{name!r} looks like a credential: declare it under auth (its value "
                    "comes from an environment variable and is never logged)"
                )
        return v

    def endpoint(self) -> str:
        """The URL requests go to (``url_env`` applied)."""
        base = os.environ.get(self.url_env) if self.url_env else None
        if not base:
            return self.url
        override = urlsplit(base.rstrip("/"))
        if override.scheme not in ("http", "https") or not override.netloc:
            raise ConfigError(f"${self.url_env} must be http(s)://host[:port], not {base!r}")
        return urlsplit(self.url)._replace(scheme=override.scheme, netloc=override.netloc).geturl()

    @property
    def uri(self) -> str:
        """The stream: the endpoint and its fixed parameters (never a credential)."""
        query = urlencode(sorted(self.params.items()))
        return self.url + (f"?{query}" if query else "")

    @property
    def uri_sep(self) -> str:
        return "#"
