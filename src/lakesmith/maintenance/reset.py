"""``lakesmith reset-positions``: continue after records the source no longer holds (ING-7).

When retention removed records before they were read, the worker stops instead of skipping
them silently. This job is the explicit choice: move every sink's position of every stream
to the first record the source still has (``earliest``) or to its end (``latest``), in one
write per sink through the same positioned commit the stream uses, and record the reset in
``lakesmith.position_resets``. Positions only move forward: records already ingested are
never read twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.contracts.plugins import source_module
from lakesmith.core import positions as pos
from lakesmith.core.errors import LakesmithError
from lakesmith.core.logging import get_logger
from lakesmith.core.records import RawBatch
from lakesmith.pipeline.dataset import Dataset
from lakesmith.pipeline.process import process_batch
from lakesmith.pipeline.sinks import build_sinks
from lakesmith.silver.dedupe import DedupeIndex
from lakesmith.sources.base import SourceContext
from lakesmith.stores import meta

log = get_logger(__name__)

Target = Literal["earliest", "latest"]


def plan_reset(settings: Settings, contract: Contract, to: Target) -> pos.Positions:
    """The positions a reset would write: per stream the first available record or the end."""
    bounds: Callable[[SourceContext], dict[str, tuple[int, int]]] | None = getattr(
        source_module(contract.source.kind), "bounds", None
    )
    if bounds is None:
        raise LakesmithError(
            f"{contract.name}: source kind {contract.source.kind!r} has no positions to reset",
            hint="its streams are identified by content: a changed input is read as new",
        )
    context = SourceContext(settings, contract, "lakesmith-reset", resume=lambda streams: {})
    return {
        stream: pos.Position(low if to == "earliest" else high)
        for stream, (low, high) in bounds(context).items()
    }


def reset_positions(
    settings: Settings, contract: Contract, to: Target, planned: pos.Positions | None = None
) -> pos.Positions:
    """Write ``planned`` (default: ``plan_reset`` now) to every sink; returns it."""
    target = planned if planned is not None else plan_reset(settings, contract, to)
    dataset = Dataset(settings, contract).ensure()
    sinks = build_sinks(dataset)
    try:
        now = datetime.now(UTC)
        empty = process_batch(
            RawBatch(source=contract.source.uri), contract, now, DedupeIndex(contract.keys)
        )
        batch = dataclasses.replace(empty, positions=target, batch_id=f"reset-{now:%Y%m%dT%H%M%S}")
        for sink in sinks:
            sink.write(batch)
            sink.flush(force=True)  # now, whatever the sink's commit policy
        meta.record_reset(dataset.conn, contract.name, to, pos.dumps(target))
        log.info("positions_reset", dataset=contract.name, to=to, positions=pos.dumps(target))
        return target
    finally:
        for sink in sinks:
            sink.close()
        dataset.close()
