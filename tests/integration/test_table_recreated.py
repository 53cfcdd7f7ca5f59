"""A table dropped and created again under a running process (a reprocess or gold rebuild
beside a live worker): the process stops with one clear error naming the table and the
fix, not pyiceberg's ``ValueError: Table UUID does not match`` traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakesmith.config import Settings
from lakesmith.core.errors import SinkError
from lakesmith.pipeline.dataset import Dataset
from lakesmith.stores.reset import drop_lake_table
from lakesmith.testing.pipeline import unique_contract
from lakesmith.testing.sink_suite import process_into, raw_batch

pytestmark = pytest.mark.integration


def test_worker_tables_recreated_underneath(stack_settings: Settings, tmp_path: Path) -> None:
    contract, _ = unique_contract(tmp_path)
    live = Dataset(stack_settings, contract).ensure()  # the running worker's handles
    try:
        process_into(live, raw_batch("recreated://a", range(0, 20)))
        rebuild = Dataset(stack_settings, contract)  # the reprocess, another process
        drop_lake_table(stack_settings, rebuild.silver)
        rebuild.ensure()
        rebuild.close()
        with pytest.raises(SinkError, match="was dropped and created again") as err:
            process_into(live, raw_batch("recreated://a", range(20, 40)))
        assert live.silver.label in err.value.message
        assert err.value.hint is not None and "stop the dataset's workers" in err.value.hint
    finally:
        live.close()
