"""``create_app(settings)``: the FastAPI app — routes under ``/v1``, OpenAPI at
``/v1/openapi.json`` and ``/docs``, health at ``/healthz`` and ``/readyz``."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from lakesmith.api.context import AppContext
from lakesmith.api.errors import ApiError
from lakesmith.config import Settings
from lakesmith.core.errors import LakesmithError, ServiceUnavailableError

PREFIX = "/v1"


def create_app(settings: Settings, *, prepare: bool = True, freeze_heap: bool = False) -> FastAPI:
    """The app for ``settings``. Raises ``ConfigError`` at once for a missing/placeholder
    JWT secret outside the local stack. ``prepare``: on start, create the bookkeeping
    tables and apply missing warehouse migrations. ``freeze_heap`` (the served app, not
    tests that build many apps in one process): after start-up, move every object to the
    collector's permanent generation (``gc.freeze``)."""
    from lakesmith.api.graphql import graphql_router
    from lakesmith.api.routes import auth, gold, health, jobs, ops, raw, search

    ctx = AppContext.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if prepare:
            from starlette.concurrency import run_in_threadpool

            from lakesmith.api.startup import prepare as do_prepare

            await run_in_threadpool(do_prepare, ctx)
        if freeze_heap:
            # What start-up built (modules, the app, its routes: ~185k objects) lives as
            # long as the process. Frozen, the collector skips it: a full collection of
            # the warm API otherwise holds the GIL for ~90 ms (gc.collect() after start-up,
            # measured), stalling every request of the worker whenever garbage sets it off.
            gc.collect()
            gc.freeze()
        yield
        ctx.close()

    app = FastAPI(
        title="lakesmith",
        version="1",
        description="Raw records, gold tables, marts, search, data quality and jobs.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.include_router(health.router)
    for module in (auth, gold, raw, ops, jobs, search):
        app.include_router(module.router, prefix=PREFIX)
    app.include_router(graphql_router(), prefix=PREFIX)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    @app.exception_handler(ServiceUnavailableError)
    async def unavailable(_: Request, exc: ServiceUnavailableError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=503)

    @app.exception_handler(LakesmithError)
    async def lakesmith_error(_: Request, exc: LakesmithError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=422)

    return app
