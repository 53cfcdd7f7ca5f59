"""The W-MUSIC demo's BI queries (``lakesmith demo music``): the three questions of
``marts`` on the warehouse (SQL over the marts), then each on the lake with DuckDB.
Periods: the last seven days with plays."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lakesmith.domains import DemoQuery, QueryOutput

if TYPE_CHECKING:
    from lakesmith.pipeline.dataset import Dataset

EVENTS = "music.events"


def _query(question: str, where: str) -> Callable[[Dataset], QueryOutput]:
    def run(dataset: Dataset) -> QueryOutput:
        from lakesmith.domains.music import marts

        q = marts.QUESTIONS[question]
        start = end = None
        if q.period:
            start, end = marts.data_period(dataset)
        if where == "warehouse":
            frame = marts.warehouse_answer(dataset, question, start, end)
            sql = q.warehouse.format(schema=dataset.contract.gold.schema_name)  # type: ignore[union-attr]
        else:
            frame = marts.lake_answer(dataset, question, start, end)
            sql = q.lake
        period = f" {start} … {end}" if q.period else ""
        head = (
            f"{q.title}{period} — {where} ({'PostgreSQL' if where == 'warehouse' else 'DuckDB'}):"
        )
        return QueryOutput(f"{head}\n{sql}", frame)

    return run


DEMO_QUERIES = tuple(
    DemoQuery(EVENTS, _query(q, where))
    for q in ("usage_by_location", "top_songs", "hours_per_user")
    for where in ("warehouse", "lake")
)
