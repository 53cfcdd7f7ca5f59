"""``GET /v1/search``."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Query, Response

from lakesmith.api.deps import Reader, Search
from lakesmith.search.types import SearchResult

router = APIRouter(tags=["search"])


@router.get("/search", response_model=SearchResult)
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
) -> Response:
    """Keyword, vector or hybrid search over devices and documents; hits carry the keys of
    their warehouse entities."""
    result: SearchResult = service.search(
        q=q, mode=mode, site=site, manufacturer=manufacturer, model=model,
        doc_type=doc_type, date_from=date_from, date_to=date_to, limit=limit, page=page,
    )  # fmt: skip
    # serialised by pydantic-core directly: FastAPI's jsonable_encoder walks every hit in
    # Python (the schema is still ``SearchResult``)
    return Response(result.model_dump_json(), media_type="application/json")
