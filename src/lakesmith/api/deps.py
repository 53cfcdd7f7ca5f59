"""FastAPI dependencies: the services of the running app and the caller's identity,
as ``Annotated[..., Depends()]`` aliases the routes declare. They are ``async`` (FastAPI
would run each plain ``def`` dependency on the thread pool: a hop per dependency per
request); the one blocking step, argon2 verification, goes to the thread pool itself."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPBasic, OAuth2PasswordBearer
from starlette.concurrency import run_in_threadpool

from lakesmith.api.auth import Principal, Role, TokenError
from lakesmith.api.context import AppContext
from lakesmith.api.services.gold import GoldService
from lakesmith.api.services.jobs import JobService
from lakesmith.api.services.ops import OpsService
from lakesmith.api.services.raw import RawService
from lakesmith.api.services.search import SearchService
from lakesmith.api.services.uploads import UploadService
from lakesmith.api.services.users import UserService

CHALLENGE = 'Bearer realm="lakesmith", Basic realm="lakesmith"'

# Declared for the OpenAPI schema (both schemes are offered); ``principal`` reads the
# header itself so one request may use either.
_basic = HTTPBasic(auto_error=False, realm="lakesmith")
_bearer = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)


async def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(context)]


def _unauthorized(message: str, error: str | None = None) -> HTTPException:
    challenge = CHALLENGE
    if error is not None:
        challenge = f'Bearer realm="lakesmith", error="{error}", Basic realm="lakesmith"'
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": challenge}
    )


async def principal(
    request: Request,
    ctx: Ctx,
    _b: Annotated[object, Depends(_basic)] = None,
    _t: Annotated[object, Depends(_bearer)] = None,
) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if not header:
        raise _unauthorized("authentication required (HTTP Basic or a bearer token)")
    if scheme.lower() == "bearer" and value:
        try:
            return ctx.users.from_token(value)
        except TokenError as exc:
            raise _unauthorized(exc.reason, "invalid_token") from None
    if scheme.lower() == "basic" and value:
        try:
            name, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized("malformed Basic credentials") from None
        # argon2 takes tens of ms by design: off the event loop
        found = await run_in_threadpool(ctx.users.authenticate, name, password) if sep else None
        if found is None:
            raise _unauthorized("wrong user name or password")
        return found
    raise _unauthorized("unsupported Authorization scheme (use Basic or Bearer)")


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.can(role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this needs the {role} role; {who.name} is a {who.role}",
            )
        return who

    return check


Reader = Annotated[Principal, Depends(require("reader"))]
Writer = Annotated[Principal, Depends(require("writer"))]
Admin = Annotated[Principal, Depends(require("admin"))]


async def gold_service(ctx: Ctx) -> GoldService:
    return ctx.gold


async def raw_service(ctx: Ctx) -> RawService:
    return ctx.raw


async def ops_service(ctx: Ctx) -> OpsService:
    return ctx.ops


async def job_service(ctx: Ctx) -> JobService:
    return ctx.jobs


async def search_service(ctx: Ctx) -> SearchService:
    return ctx.search


async def user_service(ctx: Ctx) -> UserService:
    return ctx.users


Gold = Annotated[GoldService, Depends(gold_service)]
Raw = Annotated[RawService, Depends(raw_service)]
Ops = Annotated[OpsService, Depends(ops_service)]
Jobs = Annotated[JobService, Depends(job_service)]
Search = Annotated[SearchService, Depends(search_service)]
Users = Annotated[UserService, Depends(user_service)]


async def upload_service(ctx: Ctx) -> UploadService:
    return ctx.uploads


Uploads = Annotated[UploadService, Depends(upload_service)]
