"""``GET /v1/search``."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Query

from lakesmith.api.deps import Reader, Search

router = APIRouter(tags=["search"])


@router.get("/search")
def search(
    _: Reader,
    service: Search,
    q: str = Query(..., min_length=1, max_length=1000),
    mode: Literal["keyword", "vector", "hybrid"] = "hybrid",
    site: str | None = None,
    manufacturer: str | None = None,
    model: str | None = None,
    doc_type: str | None = None,
    date_from: dt.date | None = Query(None, alias="from"),
    date_to: dt.date | None = Query(None, alias="to"),
    limit: int = Query(10, ge=1, le=100),
    page: int = Query(1, ge=1, le=100),
) -> Any:
    """Keyword, vector or hybrid search over devices and documents; hits carry the keys of
    their warehouse entities."""
    return service.search(
        q=q, mode=mode, site=site, manufacturer=manufacturer, model=model,
        doc_type=doc_type, date_from=date_from, date_to=date_to, limit=limit, page=page,
    )  # fmt: skip
