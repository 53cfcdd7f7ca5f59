"""``/healthz`` (the process is up) and ``/readyz`` (PostgreSQL, Typesense, migrations);
no authentication."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from lakesmith.api.deps import Ctx
from lakesmith.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health)
def readyz(ctx: Ctx, response: Response) -> Health:
    from lakesmith.api.startup import readiness

    checks = readiness(ctx)
    ok = all(v == "ok" for v in checks.values())
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="ok" if ok else "unavailable", checks=checks)
