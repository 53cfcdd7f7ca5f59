"""``GET /v1/dq/{dataset}`` and ``GET /v1/pipelines``."""

from __future__ import annotations

from fastapi import APIRouter

from lakesmith.api.deps import Ops, Reader
from lakesmith.api.schemas import DqReport, PipelineStatus

router = APIRouter(tags=["operations"])


@router.get("/dq/{dataset}", response_model=DqReport)
def dq(dataset: str, _: Reader, ops: Ops) -> DqReport:
    """The dataset's data-quality summary (as `lakesmith dq report`)."""
    return ops.dq(dataset)


@router.get("/pipelines", response_model=list[PipelineStatus])
def pipelines(_: Reader, ops: Ops) -> list[PipelineStatus]:
    """Every dataset: records in, last batch, lag and committed positions."""
    return ops.pipelines()
