"""The music gold layer end to end through the worker (``lakesmith run … --until-idle``)
on JSON lines: Eventsim-shaped rows written here, with a SIGKILL right after a gold sink
committed, and the real Eventsim sample when ../shared/data/external is present. Every
play of silver is one fact in the lake and in the warehouse, each fact points to the
``dim_user`` version valid at its ts, and the BI answers agree between the two stores."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.domains.music import marts
from lakesmith.pipeline.dataset import Dataset
from lakesmith.stores.postgres import connect
from lakesmith.testing.pipeline import read_sinks, unique_contract
from lakesmith.testing.stack import worker_env

pytestmark = pytest.mark.integration

T0 = datetime(2025, 1, 20, 8, 0, tzinfo=UTC)
SONGS = [(f"Song {i}", f"Artist {i % 7}", 150.0 + i) for i in range(25)]
PLACES = ["Boston-Cambridge-Newton, MA-NH", "Tampa-St. Petersburg-Clearwater, FL", "Austin, TX"]
AGENT = '"Mozilla/5.0 (Windows NT 6.1; WOW64; rv:31.0) Gecko/20100101 Firefox/31.0"'


def generate(users: int = 20, sessions: int = 4, seed: int = 7) -> list[dict[str, Any]]:
    """Sessions of plays and page views; users switch level now and then (a Submit
    Upgrade / Submit Downgrade event, the next events at the new level)."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for user in range(1, users + 1):
        level = rng.choice(["free", "paid"])
        t = T0 + timedelta(minutes=rng.randint(0, 600))
        for s in range(sessions):
            session = user * 100 + s
            for item in range(rng.randint(5, 25)):
                t += timedelta(seconds=rng.randint(30, 400))
                page = rng.choices(["NextSong", "Home", "Thumbs Up", "Switch"], [80, 8, 8, 4])[0]
                if page == "Switch":
                    page = "Submit Upgrade" if level == "free" else "Submit Downgrade"
                title, artist, length = rng.choice(SONGS)
                listen = page == "NextSong"
                out.append({
                    "ts": int(t.timestamp() * 1000), "userId": str(user), "sessionId": session,
                    "itemInSession": item, "page": page, "auth": "Logged In",
                    "method": "PUT" if listen else "GET", "status": 200, "level": level,
                    "location": PLACES[user % 3], "userAgent": AGENT, "lastName": f"L{user}",
                    "firstName": f"F{user}", "registration": 1540919166796.0, "gender": "M",
                    "artist": artist if listen else None, "song": title if listen else None,
                    "length": length if listen else None,
                })  # fmt: skip
                if page.startswith("Submit"):
                    level = "paid" if level == "free" else "free"
            t += timedelta(hours=rng.randint(1, 30))
    out.sort(key=lambda e: e["ts"])
    return out


def run_worker(settings: Settings, path: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    cmd = [sys.executable, "-m", "lakesmith", "run", str(path), "--until-idle"]
    return subprocess.run(
        cmd,
        env=worker_env(settings, LAKESMITH__WORKER__BATCH_SIZE="400", **env),
        capture_output=True,
        timeout=600,
    )


def check_gold(settings: Settings, contract: Contract) -> None:
    dataset = Dataset(settings, contract)
    try:
        listens = dataset.silver_tables["listen_events"].scan(["_record_id"])
        schema = contract.gold.schema_name  # type: ignore[union-attr]
        lake_facts = dataset.gold["fact_listen"].scan()
        with connect(settings) as conn:
            wh = conn.execute(f'SELECT listen_key, user_key FROM "{schema}".fact_listen')
            wh_facts = pl.DataFrame(wh.fetchall(), schema=["listen_key", "user_key"], orient="row")
        want = sorted(listens["_record_id"].to_list())
        assert sorted(lake_facts["listen_key"].to_list()) == want
        assert sorted(wh_facts["listen_key"].to_list()) == want
        assert (
            lake_facts.select("listen_key", "user_key")
            .sort("listen_key")
            .equals(wh_facts.sort("listen_key"))
        )
        users = dataset.gold["dim_user"].scan()
        assert users["user_key"].is_unique().all()
        valid = lake_facts.join(users, on="user_key", suffix="_v").filter(
            (pl.col("valid_from") <= pl.col("ts"))
            & (pl.col("valid_to").is_null() | (pl.col("ts") < pl.col("valid_to")))
            & (pl.col("level") == pl.col("level_v"))
        )
        assert valid.height == lake_facts.filter(pl.col("user_id").is_not_null()).height
        assert users.group_by("user_id").agg(pl.col("is_current").sum())["is_current"].max() == 1
        first = lake_facts["ts"].min().date()  # type: ignore[union-attr]
        last = lake_facts["ts"].max().date()  # type: ignore[union-attr]
        for q in marts.QUESTIONS:
            a = marts.warehouse_answer(dataset, q, first, last)
            b = marts.lake_answer(dataset, q, first, last)
            assert a.height > 0
            assert a.rows() == b.rows(), q
    finally:
        dataset.close()


@pytest.mark.parametrize("fault_sink", ["gold", "warehouse"])
def test_worker_builds_gold_exactly_once_after_sigkill(
    stack_settings: Settings, tmp_path: Path, fault_sink: str
) -> None:
    events = generate()
    bad = [b'{"ts": 1737360000000, "page": "NextSong"', b'{"page": "Nope"}']
    data = tmp_path / "events.jsonl"
    data.write_bytes(b"\n".join([orjson.dumps(e) for e in events] + bad) + b"\n")
    contract, path = unique_contract(
        tmp_path, "music.events", source={"kind": "file", "path": str(data)}
    )
    killed = run_worker(stack_settings, path, LAKESMITH_FAULT_KILL_AFTER=f"{fault_sink}:2")
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    done = run_worker(stack_settings, path)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    sinks = read_sinks(stack_settings, contract)
    assert sinks.silver.height + sinks.quarantine.height == len(events) + len(bad)
    check_gold(stack_settings, contract)


@pytest.mark.slow
def test_real_eventsim_day_through_gold(
    stack_settings: Settings, tmp_path: Path, external_data: Path
) -> None:
    files = sorted((external_data / "eventsim").glob("*.json"))
    if not files:
        pytest.skip("no Eventsim files")
    contract, path = unique_contract(
        tmp_path, "music.events", source={"kind": "file", "path": str(files[0])}
    )
    done = run_worker(stack_settings, path)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    lines = [ln for ln in files[0].read_bytes().splitlines() if ln.strip()]
    sinks = read_sinks(stack_settings, contract)
    assert sinks.silver.height + sinks.quarantine.height == len(lines)
    check_gold(stack_settings, contract)


def test_worker_plans_each_batch_once_for_lake_and_warehouse(
    stack_settings: Settings, tmp_path: Path
) -> None:
    """In the worker, the lake and warehouse gold sinks run in parallel lanes at the same
    positions: the second takes the first's plan of the batch (``gold.plan.SharedPlans``)
    instead of planning it again, and both stores still end with the same gold."""
    from lakesmith.pipeline.gold_sinks import LakeGoldSink, WarehouseGoldSink
    from lakesmith.pipeline.worker import Worker

    events = generate(users=12, sessions=3, seed=11)
    data = tmp_path / "events.jsonl"
    data.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    contract, _ = unique_contract(
        tmp_path, "music.events", source={"kind": "file", "path": str(data)}
    )
    settings = stack_settings.model_copy(
        update={"worker": stack_settings.worker.model_copy(update={"batch_size": 150})}
    )
    worker = Worker(settings, contract)
    try:
        stats = worker.run(until_idle=True)
        lake = next(s for s in worker.sinks if isinstance(s, LakeGoldSink))
        warehouse = next(s for s in worker.sinks if isinstance(s, WarehouseGoldSink))
        assert lake.plans is warehouse.plans
        batches = -(-len(events) // 150)
        assert stats.records == len(events) and batches >= 3
        # every batch planned once: one of the two stores took the other's plan each time
        assert lake.plans.shared == batches
    finally:
        worker.close()
    check_gold(stack_settings, contract)
