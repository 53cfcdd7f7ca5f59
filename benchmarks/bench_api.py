"""Gold-query latency through the REST API: ``GET /v1/gold/entities.dim_device`` on a
real uvicorn (``lakesmith serve``, one process) over a warehouse holding ``--devices``
devices (100,000 by default, written straight into ``entities.dim_device`` with the
warehouse loader), under an open-loop load of ``--rate`` requests/s on loopback
(``benchmarks/loadgen.py``, lean keep-alive client by default). Target: p99 ≤ 50 ms
at 200 requests/s.

    uv run --frozen python benchmarks/bench_api.py                     # 100k devices, 200/s
    uv run --frozen python benchmarks/bench_api.py --devices 10000 --duration 10

Two query shapes: ``site`` (a filter on the indexed ``site_key``, sorted by the primary
key, 50 rows) and ``scan`` (``status`` + ``install_date`` range, sorted by install date,
20 rows: no index, a scan of the table). Requests carry a bearer token (HTTP Basic would
verify an argon2 hash per request, ~50 ms by design)."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import run, run_raw

from lakesmith.api.auth import hash_password
from lakesmith.local import LocalStack
from lakesmith.testing import free_ports, local_stack_settings, make_state_dir, worker_env
from lakesmith.testing.workers import wait_until_ready

SITES, MODELS = 400, 60
STATUSES = ["active", "active", "active", "maintenance", "offline", "retired"]


def devices(n: int, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    base = datetime(2020, 1, 1, tzinfo=UTC)
    installed = [base + timedelta(days=int(d)) for d in rng.integers(0, 2000, n)]
    site = rng.integers(0, SITES, n)
    model = rng.integers(0, MODELS, n)
    return pl.DataFrame(
        {
            "device_key": np.arange(1, n + 1, dtype=np.int64),
            "device_id": [f"sensor-{i:06d}" for i in range(n)],
            "model_key": model.astype(np.int64) + 1,
            "site_key": site.astype(np.int64) + 1,
            "manufacturer_key": (model % 8).astype(np.int64) + 1,
            "firmware_key": None,
            "model": [f"M-{m:03d}" for m in model],
            "site": [f"site-{s:04d}" for s in site],
            "install_date": installed,
            "install_date_key": [int(t.strftime("%Y%m%d")) for t in installed],
            "status": [STATUSES[i] for i in rng.integers(0, len(STATUSES), n)],
            "tags": None,
            "serial": [f"SN{i:08d}" for i in range(n)],
            "firmware_version": "v1.2.3",
            "updated_at": base,
        }
    )


def load(settings: object, n: int) -> float:
    from lakesmith.gold.batch import load_batch_model
    from lakesmith.gold.model import Change, conform
    from lakesmith.stores.warehouse import Warehouse

    model = load_batch_model("entities")
    table = next(t for t in model.tables if t.name == "dim_device")
    wh = Warehouse(settings, model, "entities")  # type: ignore[arg-type]
    t0 = time.perf_counter()
    wh.ensure()
    rows = conform(devices(n), table)
    with wh.conn.transaction():
        wh.apply(wh.conn, table, Change(rows, mode="replace", where=()))
    wh.conn.execute("ANALYZE entities.dim_device")
    wh.close()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--devices", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn processes")
    ap.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="load generator: lean keep-alive streams (default) or httpx (costs the "
        "generator ~5x the CPU per request: on 2 cores it saturates before the API)",
    )
    args = ap.parse_args()
    state = make_state_dir()
    settings = local_stack_settings(state)
    stack = LocalStack(settings)
    stack.up()
    proc = None
    try:
        seconds = load(settings, args.devices)
        print(f"loaded {args.devices:,} devices into entities.dim_device in {seconds:.1f} s")
        (port,) = free_ports(1)
        users = {"bench": {"password_hash": hash_password("bench-pw-1"), "role": "reader"}}
        env = worker_env(
            settings,
            LAKESMITH__API__USERS=json.dumps(users),
            LAKESMITH__API__PORT=str(port),
            LAKESMITH__LOG_LEVEL="WARNING",
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "lakesmith", "serve", "--workers", str(args.workers)], env=env
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(f"{base}/readyz", proc, 90)
        except AssertionError as exc:
            raise SystemExit(f"the API did not become ready: {exc}") from None
        token = httpx.post(
            f"{base}/v1/auth/token", data={"username": "bench", "password": "bench-pw-1"}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        rng = np.random.default_rng(1)
        shapes = {
            "site": [
                f"/v1/gold/entities.dim_device?site_key={s}&limit=50&sort=device_key"
                for s in rng.integers(1, SITES + 1, 500)
            ],
            "scan": [
                f"/v1/gold/entities.dim_device?status={STATUSES[int(i) % 6]}"
                f"&install_date__gte=2023-0{1 + int(i) % 9}-01T00:00:00Z"
                "&sort=-install_date&limit=20&columns=device_id,site,status,install_date"
                for i in rng.integers(0, 1000, 500)
            ],
        }
        check = httpx.get(base + shapes["site"][0], headers=headers)
        assert check.status_code == 200 and check.json()["items"], check.text
        print(
            f"uvicorn, {args.workers} process(es), loopback; "
            f"{args.rate:.0f} req/s for {args.duration:.0f} s"
        )
        for name, paths in shapes.items():
            if args.client == "raw":
                load_run = run_raw(
                    "127.0.0.1", port, paths, rate=args.rate, duration=args.duration,
                    headers=headers,
                )  # fmt: skip
            else:
                load_run = run(base, paths, rate=args.rate, duration=args.duration, headers=headers)
            result = asyncio.run(load_run)
            verdict = "OK" if result.p99_ms <= 50 else "ABOVE the 50 ms target"
            print(result.line(f"gold {name}", args.rate) + f"  [{verdict}]")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        stack.down()
        shutil.rmtree(state, ignore_errors=True)  # GBs of PostgreSQL and lake data


if __name__ == "__main__":
    main()
