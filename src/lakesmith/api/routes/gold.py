"""``GET /v1/gold`` (the catalog), ``/v1/gold/{table}`` and ``/v1/marts/{name}``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request, Response

from lakesmith.api.deps import Gold, Reader
from lakesmith.api.schemas import Page

router = APIRouter(tags=["gold"])


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def page_response(page: Page) -> Response:
    """The page as JSON, written directly (rows are plain values from PostgreSQL: no
    per-row model validation on the hot path; the schema is still ``Page``)."""
    body = {"items": page.items, "next_cursor": page.next_cursor}
    return Response(orjson.dumps(body, default=_default), media_type="application/json")


LIMIT = Query(100, ge=1, description="rows per page (at most api.max_page_size)")
FILTERS = (
    "Filter with ?column=value or ?column__op=value (op: eq ne gt gte lt lte in contains "
    "isnull; in takes comma-separated values); ?sort=col,-other; ?columns=a,b; ?cursor= "
    "from the previous page."
)


@router.get("/gold")
def catalog(_: Reader, gold: Gold) -> dict[str, Any]:
    """The gold tables (with their columns) and marts served."""
    return gold.catalog()


@router.get("/gold/{table}", response_model=Page, description=FILTERS)
def gold_table(
    table: str,
    request: Request,
    _: Reader,
    gold: Gold,
    limit: int = LIMIT,
    sort: str | None = None,
    columns: str | None = None,
    cursor: str | None = None,
) -> Response:
    """Rows of a gold table."""
    return page_response(
        gold.query(gold.table(table), list(request.query_params.multi_items()), limit)
    )


@router.get("/marts/{name}", response_model=Page, description=FILTERS)
def mart(
    name: str,
    request: Request,
    _: Reader,
    gold: Gold,
    limit: int = LIMIT,
    sort: str | None = None,
    columns: str | None = None,
    cursor: str | None = None,
) -> Response:
    """Rows of a mart (a materialised view answering a business question)."""
    return page_response(
        gold.query(gold.mart(name), list(request.query_params.multi_items()), limit)
    )
