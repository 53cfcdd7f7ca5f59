"""``lakesmith run sales`` on the real local PostgreSQL: the batch pipeline through the
``run`` command, in several chunks; the summary it prints is what the tables hold; bad
input is one clear line and exit 2."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from psycopg import sql
from typer.testing import CliRunner

from lakesmith.cli import app
from lakesmith.config import Settings
from lakesmith.contracts import load_contract
from lakesmith.core.columns import BATCH_ID, STREAM
from lakesmith.domains.sales.clean import CLEAN_BATCH
from lakesmith.domains.sales.generator import SalesSimConfig, write_all
from lakesmith.domains.sales.gold import MODEL
from lakesmith.pipeline.dataset import Dataset
from lakesmith.stores.lake import open_table
from lakesmith.stores.postgres import connect
from lakesmith.testing.stack import worker_env

pytestmark = pytest.mark.integration


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def test_run_sales_prints_what_the_tables_hold(
    stack_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakesmith.cli.common import console

    # the CLI's console is made once per process: another test may have sized it narrow
    monkeypatch.setattr(console, "width", 200)
    data = tmp_path / "sales"
    write_all(SalesSimConfig(customers=600, orders=7_000, seed=4, chunk_rows=3_000), data)
    env = worker_env(stack_settings, LAKESMITH__LOG_LEVEL="WARNING", COLUMNS="200")
    args = ["run", "sales", "--data", str(data), "--table-format", "delta"]
    result = CliRunner().invoke(app, [*args, "--chunk-rows", "2000"], env=env)
    out = result.output
    assert result.exit_code == 0, out
    s = stack_settings.model_copy(
        update={"lake": stack_settings.lake.model_copy(update={"format": "delta"})}
    )
    # gold rows: every table's count as printed = the lake's = the warehouse's
    gold = re.search(r"gold rows: (.+)", out)
    assert gold is not None, out
    printed = {name: _number(n) for name, n in re.findall(r"([\w.]+) ([\d,]+)", gold.group(1))}
    assert set(printed) == {f"sales.{t.name}" for t in MODEL.tables if not t.static} | {
        "gold.sales_enriched"
    }
    with connect(s) as conn:
        for name, n in printed.items():
            namespace, table = name.split(".")
            assert open_table(s, "delta", namespace, table).scan().height == n, name
            if namespace == "sales":
                row = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("sales", table))
                ).fetchone()
                assert row == (n,), name
    # rows in = quarantined at ingest + clean + quarantined by the cleaning, per file
    lines = pl.read_csv(data / "sales_data.csv", infer_schema=False).height
    row = re.search(r"sales\.orders\D+([\d,]+)\D+([\d,]+)\D+([\d,]+)\D+([\d,]+)", out)
    assert row is not None, out
    rows_in, at_ingest, clean, by_cleaning = (_number(g) for g in row.groups())
    assert rows_in == lines == at_ingest + clean + by_cleaning
    assert clean == printed["sales.fact_sales"] == printed["gold.sales_enriched"]
    ds = Dataset(s, load_contract("sales.orders"))
    try:
        q = ds.quarantine.scan([STREAM, BATCH_ID]).filter(pl.col(BATCH_ID) == CLEAN_BATCH)
    finally:
        ds.close()
    stream = q[STREAM].unique().to_list()
    assert len(stream) == 1 and str(data) in stream[0]
    assert q.height == by_cleaning
    reasons = re.search(r"rejected order lines by reason: (.+)", out)
    assert reasons is not None and "orphan_customer" in reasons.group(1)
    assert re.search(r"time: [\d.]+s \(stages: ingest", out)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--data", "{tmp}/nowhere"], "no such folder"),
        (["--data", "{tmp}"], "no sales_data.csv and no customer_data.parquet in it"),
        ([], "give either --data DIR or --retail FILE"),
        (["--data", "{tmp}", "--table-format", "hudi"], "use iceberg or delta"),
    ],
)
def test_run_sales_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "lakesmith", "run", "sales"]
    cmd += [a.format(tmp=tmp_path) for a in args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert "Traceback" not in done.stderr
