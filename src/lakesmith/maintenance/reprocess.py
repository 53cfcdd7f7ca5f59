"""``lakesmith reprocess DATASET --from bronze``: rebuild everything downstream of bronze
from the raw records bronze keeps, when the landing data is gone (objects deleted,
retention passed) or the contract's rules changed.

Through the spine, not beside it: every sink ``build_sinks`` makes for the dataset except
bronze is reset first (a lake table dropped and recreated empty, the DQ statistics and
their positions deleted, a sink with a ``reset()`` method — e.g. gold tables — reset by
it), then the ordinary worker runs ``--until-idle`` on the dataset with its source
replaced by the ``bronze`` kind, which delivers each record with its original stream and
seq. The bronze sink already holds every position, so it writes nothing; every other sink
is rebuilt exactly as the first run built it (same ``_record_id``s, same dedupe order).
Rules are evaluated at the time of the reprocess (a ``time_window`` may judge old
records differently).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakesmith.core.errors import LakesmithError
from lakesmith.core.logging import get_logger

if TYPE_CHECKING:
    from lakesmith.config import Settings
    from lakesmith.contracts.model import Contract
    from lakesmith.pipeline.worker import RunStats

log = get_logger(__name__)


def reset_downstream(settings: Settings, contract: Contract) -> list[str]:
    """Empty every sink of the dataset except bronze; returns their names."""
    from lakesmith.pipeline.dataset import Dataset
    from lakesmith.pipeline.lake_sink import LakeSink
    from lakesmith.pipeline.sinks import DqSink, TimeseriesSink, build_sinks
    from lakesmith.stores.reset import drop_lake_table, forget_sink

    dataset = Dataset(settings, contract).ensure()
    sinks = build_sinks(dataset)
    names: list[str] = []
    try:
        if dataset.bronze.scan(["_seq"]).height == 0:
            raise LakesmithError(
                f"{contract.name}: bronze is empty, nothing to reprocess",
                hint=f"run `lakesmith run {contract.name} --until-idle` first",
            )
        for sink in sinks:
            if sink.name == "bronze":
                continue
            reset = getattr(sink, "reset", None)
            if callable(reset):
                reset()
            elif isinstance(sink, LakeSink):
                drop_lake_table(settings, sink.table)
            elif isinstance(sink, DqSink):
                forget_sink(sink.conn, sink.sink, contract.name)
            elif isinstance(sink, TimeseriesSink):
                raise LakesmithError(
                    f"{contract.name}: reprocessing into the time-series table is not supported",
                    hint="use `lakesmith backfill DATASET --from lake --to timeseries`",
                )
            else:
                raise LakesmithError(f"sink {sink.name!r} cannot be reset (no reset())")
            names.append(sink.name)
    finally:
        for sink in sinks:
            sink.close()
        dataset.close()
    log.info("downstream_reset", dataset=contract.name, sinks=names)
    return names


def bronze_contract(contract: Contract) -> Contract:
    """``contract`` reading its own bronze table (original URIs kept)."""
    from lakesmith.sources.bronze import BronzeSourceSpec

    spec = BronzeSourceSpec(
        dataset=contract.name,
        source_uri=contract.source.uri,
        original_uri_sep=contract.source.uri_sep,
    )
    return contract.model_copy(update={"source": spec})


def reprocess_from_bronze(settings: Settings, contract: Contract) -> tuple[list[str], RunStats]:
    """Reset the downstream sinks, then run the worker on bronze until it is drained."""
    from lakesmith.pipeline.worker import Worker

    reset = reset_downstream(settings, contract)
    worker = Worker(settings, bronze_contract(contract), group_id=f"reprocess-{contract.name}")
    try:
        stats = worker.run(until_idle=True)
    finally:
        worker.close()
    return reset, stats
