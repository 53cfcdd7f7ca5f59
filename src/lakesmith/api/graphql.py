"""``/v1/graphql``: a read-only Strawberry schema over the gold tables, the marts and
search. Resolvers call the same services as the REST routes (no second data path), and
the context requires the same credentials (reader role)."""

from __future__ import annotations

from typing import Any, cast

import strawberry
from fastapi.encoders import jsonable_encoder
from strawberry.fastapi import GraphQLRouter
from strawberry.scalars import JSON
from strawberry.types import Info

from lakesmith.api.deps import Ctx, Reader


@strawberry.type
class RowPage:
    items: list[JSON]
    next_cursor: str | None


@strawberry.input
class Filter:
    column: str
    op: str = "eq"
    value: str


def _params(
    filters: list[Filter] | None, sort: str | None, columns: list[str] | None, cursor: str | None
) -> list[tuple[str, str]]:
    params = [(f.column if f.op == "eq" else f"{f.column}__{f.op}", f.value) for f in filters or []]
    if sort:
        params.append(("sort", sort))
    if columns:
        params.append(("columns", ",".join(columns)))
    if cursor:
        params.append(("cursor", cursor))
    return params


def _ctx(info: Info[Any, None]) -> Any:
    return info.context["app"]


@strawberry.type
class Query:
    @strawberry.field(description="The gold tables and marts served, with their columns.")  # type: ignore[untyped-decorator]
    def catalog(self, info: Info[Any, None]) -> JSON:
        return cast(JSON, _ctx(info).gold.catalog())

    @strawberry.field(description="Rows of a gold table (filters, sort, columns, paging).")  # type: ignore[untyped-decorator]
    def gold(
        self,
        info: Info[Any, None],
        table: str,
        filters: list[Filter] | None = None,
        sort: str | None = None,
        columns: list[str] | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> RowPage:
        gold = _ctx(info).gold
        page = gold.query(gold.table(table), _params(filters, sort, columns, cursor), limit)
        return RowPage(items=jsonable_encoder(page.items), next_cursor=page.next_cursor)

    @strawberry.field(description="Rows of a mart.")  # type: ignore[untyped-decorator]
    def mart(
        self,
        info: Info[Any, None],
        name: str,
        filters: list[Filter] | None = None,
        sort: str | None = None,
        columns: list[str] | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> RowPage:
        gold = _ctx(info).gold
        page = gold.query(gold.mart(name), _params(filters, sort, columns, cursor), limit)
        return RowPage(items=jsonable_encoder(page.items), next_cursor=page.next_cursor)

    @strawberry.field(description="Keyword, vector or hybrid search (the REST /v1/search).")  # type: ignore[untyped-decorator]
    def search(
        self,
        info: Info[Any, None],
        q: str,
        mode: str = "hybrid",
        site: str | None = None,
        manufacturer: str | None = None,
        model: str | None = None,
        doc_type: str | None = None,
        limit: int = 10,
    ) -> JSON:
        result = _ctx(info).search.search(
            q=q, mode=mode, site=site, manufacturer=manufacturer, model=model,
            doc_type=doc_type, limit=limit,
        )  # fmt: skip
        return cast(JSON, result.model_dump(mode="json"))


async def context(who: Reader, ctx: Ctx) -> dict[str, Any]:
    return {"who": who, "app": ctx}


def graphql_router() -> GraphQLRouter[Any, None]:
    schema = strawberry.Schema(query=Query)
    return GraphQLRouter(schema, path="/graphql", context_getter=context, graphql_ide="graphiql")
