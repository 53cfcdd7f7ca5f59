"""Search at the issue's size: index 100,000 devices and 20,000 PDF pages into a fresh
Typesense (the local stack), report indexing throughput (documents/s) with the embedding
time apart, then hybrid-search latency (p50/p99) and throughput at a fixed request rate —
through the search repository in-process (Typesense directly: query embedding, one
multi_search, rank fusion) and through ``GET /v1/search`` on a real uvicorn.

    uv run --frozen python benchmarks/bench_search.py                      # full size
    uv run --frozen python benchmarks/bench_search.py --devices 10000 --pages 2000 \\
        --duration 10                                                      # quicker

Embeddings: the hand-written NumPy MiniLM is measured on ``--embed-sample`` texts of each
collection (texts/s, tokens/s); embedding all 120k texts would take hours on two shared
cores, so the index is filled with seeded random unit vectors of the same size unless
``--embed-all`` is given (the Typesense side — JSON, HNSW insert, search — costs the same).
Queries are a fixed set of 12 texts whose embeddings are computed (and cached) before the
load starts; the uncached cost of one query embedding is printed separately. With
``--fresh`` every request has a query never seen before (three words and a number), so
each one is embedded under load (concurrent ones in batches: ``search/query_batch.py``).
The API runs as ``lakesmith serve --workers N`` (``--workers``, default 1); ``LAKESMITH__SEARCH__*``
variables reach it too. ``--cache on,off`` runs the API once with the result cache as
configured (on by default: ``search.cache_ttl_s``) and once without it, and ``--queries
fixed,fresh`` both query kinds, all on the one index (the fixed queries are cache hits
when the cache is on: fresh ones show a query's real cost). The load generator is open-loop: request i is due at t0 + i/rate whatever the earlier
ones did, and its latency counts from that due time (no coordinated omission); in-process
it is a thread pool, over HTTP ``benchmarks/loadgen.run_raw``."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import numpy as np
import polars as pl
import psutil
from loadgen import run_raw  # benchmarks/loadgen.py (the API benchmarks' generator)

from lakesmith.local import LocalStack
from lakesmith.search.documents import EMBED_TEXT, device_documents, page_documents
from lakesmith.search.embeddings import load_embedder
from lakesmith.search.indexing import SearchIndexer
from lakesmith.search.types import SearchQuery
from lakesmith.stores.search import EMBEDDING_DIM, SearchRepository
from lakesmith.testing import free_ports, local_stack_settings, make_state_dir, worker_env

_TEXT = (
    "sensor gateway battery firmware calibration enclosure humidity temperature pressure "
    "vibration bearing pump valve compressor cold store warehouse harbour outage alarm "
    "threshold replaced inspected cleaned seal gasket corrosion antenna signal drift probe "
    "mount cable connector voltage current accuracy resolution range operating interval "
    "report technician ticket site model device reading logged resolved escalated network"
)
WORDS = _TEXT.split(" ")
MAKERS = ["Nordic Sensing", "Halvorsen Teknikk", "Aerolux Instruments", "Granite Peak IoT",
          "Borealis Sensing", "Delphin Controls", "Everline Systems", "Rotek"]  # fmt: skip
FAMILIES = ["THP environmental sensor", "VB vibration sensor", "GX gas detector",
            "PR pressure transmitter", "LV level sensor", "AQ air quality monitor"]  # fmt: skip
QUERIES = [
    "temperature sensor cold store", "vibration on pump bearing", "gas detector alarm",
    "battery replaced gateway", "pressure transmitter harbour", "humidity drift calibration",
    "corrosion on enclosure seal", "firmware update failed", "Halvorsen vibraton sensor",
    "air quality monitor warehouse", "signal loss antenna", "level sensor valve",
]  # fmt: skip


def synthetic(devices: int, pages: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Devices joined with model/site attributes, and PDF pages of prose-like word salad
    (datasheets per model, reports per device), built vectorised."""
    rng = np.random.default_rng(seed)
    n_models, n_sites = 60, 400
    model_ix = rng.integers(0, n_models, devices)
    site_ix = rng.integers(0, n_sites, devices)
    models = pl.DataFrame(
        {
            "model": [f"{f.split()[0]}-{100 + 10 * i}" for i, f in enumerate(FAMILIES * 10)],
            "model_name": [f"{MAKERS[i % 8].split()[0]} {f}" for i, f in enumerate(FAMILIES * 10)],
            "manufacturer": [MAKERS[i % 8] for i in range(n_models)],
            "sensor_types": [[f.split()[1]] for f in FAMILIES * 10],
            "model_key": np.arange(n_models, dtype=np.int64) + 1_000,
        }
    )
    sites = pl.DataFrame(
        {
            "site": [f"S{i:04d}" for i in range(n_sites)],
            "site_name": [f"{WORDS[i % len(WORDS)].title()} site {i}" for i in range(n_sites)],
            "city": [f"City {i % 50}" for i in range(n_sites)],
            "country": [("Norway", "Germany", "Sweden", "Denmark")[i % 4] for i in range(n_sites)],
            "site_key": np.arange(n_sites, dtype=np.int64) + 10_000,
        }
    )
    dev = pl.DataFrame(
        {
            "device_id": [f"sensor-{i:06d}" for i in range(devices)],
            "device_key": np.arange(devices, dtype=np.int64) + 100_000,
            "model_ix": model_ix,
            "site_ix": site_ix,
            "status": np.array(["active", "maintenance", "retired"])[rng.integers(0, 3, devices)],
            "install_date": pl.date_range(
                pl.date(2019, 1, 1), pl.date(2025, 12, 31), eager=True
            ).sample(devices, with_replacement=True, seed=seed),
            "tags": np.array(["indoor", "outdoor", "critical", "pump", "cold-chain"])[
                rng.integers(0, 5, devices)
            ],
        }
    ).with_columns(pl.col("tags").map_batches(lambda s: s.cast(pl.String).str.split(",")))
    dev = pl.concat([dev, models[dev["model_ix"]], sites[dev["site_ix"]]], how="horizontal")
    words = np.array(WORDS)
    texts = [" ".join(row) for row in words[rng.integers(0, len(words), (pages, 150))]]
    docs = (pages + 2) // 3
    doc_ix = np.arange(pages) // 3
    page = pl.DataFrame(
        {
            "doc_id": [f"doc-{i:06d}" for i in doc_ix],
            "page": (np.arange(pages) % 3 + 1).astype(np.int32),
            "doc_type": np.where(doc_ix % 4 == 0, "datasheet", "maintenance_report"),
            "title": [f"Document {i}" for i in doc_ix],
            "text": texts,
            "date": pl.date_range(pl.date(2019, 1, 1), pl.date(2025, 12, 31), eager=True).sample(
                pages, with_replacement=True, seed=seed + 1
            ),
            "model_ix": rng.integers(0, n_models, docs)[doc_ix],
        }
    )
    page = pl.concat([page, models[page["model_ix"]]], how="horizontal")
    return dev.drop("model_ix", "site_ix"), page.drop("model_ix")


class RandomEmbedder:
    """Seeded random unit vectors in place of the model (see the module doc)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> Any:
        v = self.rng.standard_normal((len(texts), EMBEDDING_DIM)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def embed_rate(texts: list[str], label: str) -> None:
    embedder = load_embedder()
    tokens = sum(len(e.ids) for e in embedder.tokenizer.encode_batch(texts))
    t0, c0 = time.perf_counter(), time.process_time()
    embedder.embed(texts, 32)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"embed {label}: {len(texts)} texts, {tokens:,} tokens in {wall:.1f}s wall / {cpu:.1f}s "
        f"CPU: {len(texts) / wall:,.1f} texts/s, {tokens / wall:,.0f} tokens/s"
    )


def open_loop(call: Callable[[int], None], rate: float, duration: float) -> dict[str, float]:
    """Fire ``call(i)`` at ``rate``/s for ``duration`` s from a pool; latencies from the
    due time. Returns p50/p99/max (ms), achieved throughput and errors."""
    n = int(rate * duration)
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = time.perf_counter() + 0.2

    def one(i: int) -> None:
        due = start + i / rate
        try:
            call(i)
        except Exception:
            with lock:
                errors[0] += 1
            return
        with lock:
            lat.append((time.perf_counter() - due) * 1000)

    with ThreadPoolExecutor(max_workers=64) as pool:
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i)
    elapsed = time.perf_counter() - start
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [0.0] * 99
    return {"p50": q[49], "p99": q[98], "max": max(lat, default=0.0),
            "rps": len(lat) / elapsed, "errors": float(errors[0])}  # fmt: skip


def fresh_queries(n: int, seed: int) -> list[str]:
    """``n`` query texts never asked before (so never in a cache): three words, a number."""
    words = np.array(WORDS)[np.random.default_rng(seed).integers(0, len(WORDS), (n, 3))]
    return [f"{' '.join(w)} {seed * 1_000_000 + i}" for i, w in enumerate(words)]


def rates(args: argparse.Namespace) -> list[float]:
    return [float(r) for r in str(args.rate).split(",")]


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far."""
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


class CpuMeter:
    """CPU ms per request of the given processes over one load run: unlike latency, this
    barely moves with the load the machine's other users put on it."""

    def __init__(self, **pids: int) -> None:
        self.pids = pids
        self.start = {name: cpu_s(pid) for name, pid in pids.items()}

    def line(self, requests: float) -> str:
        per = {
            n: (cpu_s(p) - self.start[n]) * 1000 / max(requests, 1) for n, p in self.pids.items()
        }
        return "  CPU per request: " + ", ".join(f"{n} {ms:.1f} ms" for n, ms in per.items())


def show(label: str, r: dict[str, float], rate: float) -> None:
    print(
        f"{label} at {rate:g} req/s: p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, "
        f"max {r['max']:.1f} ms, {r['rps']:.1f} req/s done, {int(r['errors'])} errors"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--devices", type=int, default=100_000)
    ap.add_argument("--pages", type=int, default=20_000)
    ap.add_argument("--rate", default="100", help="requests/s; a comma list runs each in turn")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--embed-sample", type=int, default=64)
    ap.add_argument("--embed-all", action="store_true")
    ap.add_argument("--no-api", action="store_true")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--fresh", action="store_true", help="a new query text for every request")
    ap.add_argument(
        "--queries", default="", help="fixed,fresh: API runs with each (--fresh: fresh)"
    )
    ap.add_argument(
        "--cache", default="on", help="on,off: API runs with the result cache and without"
    )
    ap.add_argument("--workers", type=int, default=1, help="API (uvicorn) processes")
    args = ap.parse_args()

    state = make_state_dir("lakesmith-bench-search-")
    settings = local_stack_settings(state)
    stack = LocalStack(settings, ["typesense"] if args.no_api else ["postgres", "typesense"])
    stack.up()
    ts_pid = stack.service("typesense").status().pid
    assert ts_pid is not None
    try:
        t0 = time.perf_counter()
        devices, pages = synthetic(args.devices, args.pages, args.seed)
        dev_docs = device_documents(devices)
        page_docs = page_documents(pages, settings.search.chunk_words)
        print(f"data: {dev_docs.height:,} devices, {pages.height:,} pages -> "
              f"{page_docs.height:,} chunks, built in {time.perf_counter() - t0:.1f}s")  # fmt: skip
        sample = args.embed_sample
        embed_rate(dev_docs[EMBED_TEXT].head(sample).to_list(), "device texts")
        embed_rate(page_docs[EMBED_TEXT].head(sample // 4).to_list(), "page chunks")

        embedder: Any = None if args.embed_all else RandomEmbedder(args.seed)
        indexer = SearchIndexer(settings, embedder=embedder)
        for name, docs in (("devices", dev_docs), ("documents", page_docs)):
            rep = indexer.sync(name, docs)  # type: ignore[arg-type]
            print(
                f"index {name}: {rep.upserted:,} docs, upsert {rep.upsert_s:.1f}s "
                f"({rep.upserted / rep.upsert_s:,.0f} docs/s), embedding {rep.embed_s:.1f}s"
                + ("" if args.embed_all else " (random vectors)")
            )
        t0 = time.perf_counter()
        again = indexer.sync("devices", dev_docs)
        print(f"re-index devices unchanged: {again.unchanged:,} skipped in "
              f"{time.perf_counter() - t0:.1f}s")  # fmt: skip

        repo = SearchRepository(settings)
        model = load_embedder()
        t0 = time.perf_counter()
        for q in QUERIES:
            model.embed([q])
        print(
            f"query embedding (uncached): {(time.perf_counter() - t0) * 1000 / len(QUERIES):.1f} ms each"
        )
        for q in QUERIES:  # warm the repository's query-vector cache
            repo.search(SearchQuery(q=q))
        for n, rate in enumerate(rates(args)):
            texts = (
                fresh_queries(int(rate * args.duration), args.seed + n) if args.fresh else QUERIES
            )

            def one(i: int, texts: list[str] = texts) -> None:
                repo.search(SearchQuery(q=texts[i % len(texts)]))

            meter = CpuMeter(typesense=ts_pid, bench_process=os.getpid())
            r = open_loop(one, rate, args.duration)
            show(f"hybrid search, repository -> Typesense (cache {settings.search.cache_ttl_s} s)"
                 + (" (fresh)" if args.fresh else ""),
                 r, rate)  # fmt: skip
            print(meter.line(int(rate * args.duration) - r["errors"]), flush=True)
        if not args.no_api:
            api_bench(settings, args, ts_pid)
    finally:
        stack.down()
        shutil.rmtree(state, ignore_errors=True)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children (``serve --workers N``)."""
    proc = psutil.Process(pid)
    return cpu_s(pid) + sum(cpu_s(c.pid) for c in proc.children(recursive=True))


def api_bench(settings: Any, args: argparse.Namespace, ts_pid: int) -> None:
    """``GET /v1/search`` for each ``--cache`` setting and ``--queries`` kind."""
    kinds = [k for k in args.queries.split(",") if k] or ["fresh" if args.fresh else "fixed"]
    for cache in args.cache.split(","):
        api_run(settings, args, ts_pid, cache == "on", kinds)


def api_run(
    settings: Any, args: argparse.Namespace, ts_pid: int, cache: bool, kinds: list[str]
) -> None:
    """``GET /v1/search`` on ``lakesmith serve --workers N`` (bearer token), open loop."""
    import json

    import httpx

    from lakesmith.api.auth import hash_password
    from lakesmith.testing.workers import wait_until_ready

    (port,) = free_ports(1)
    users = {"bench": {"password_hash": hash_password("bench-pw-1"), "role": "reader"}}
    search = {k: v for k, v in os.environ.items() if k.startswith("LAKESMITH__SEARCH__")}
    if not cache:
        search["LAKESMITH__SEARCH__CACHE_TTL_S"] = "0"
    env = worker_env(
        settings,
        **search,  # e.g. LAKESMITH__SEARCH__CACHE_TTL_S=60 for the API too
        LAKESMITH__API__USERS=json.dumps(users),
        LAKESMITH__API__PORT=str(port),
        LAKESMITH__LOG_LEVEL="WARNING",
    )
    cmd = [sys.executable, "-m", "lakesmith", "serve", "--workers", str(args.workers)]
    proc = subprocess.Popen(cmd, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{base}/readyz", proc, 120)
        token = httpx.post(
            f"{base}/v1/auth/token", data={"username": "bench", "password": "bench-pw-1"}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        paths = [f"/v1/search?q={quote(q)}" for q in QUERIES]

        def warm(_: int) -> None:  # its own connection: the workers accept them in turn
            with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                for path in paths:
                    client.get(path).raise_for_status()

        # warm every worker (model loaded, query vectors cached) from several connections
        # at once: one keep-alive connection reaches one worker, and a worker loading the
        # model (~1-5 s of CPU) inside a measured run would count it per request
        with ThreadPoolExecutor(max_workers=4 * args.workers) as pool:
            list(pool.map(warm, range(4 * args.workers)))
        for kind, (n, rate) in ((k, r) for k in kinds for r in enumerate(rates(args))):
            if kind == "fresh":
                seed = args.seed + 100 + n + (0 if cache else 50)  # never asked in any run
                texts = fresh_queries(int(rate * args.duration), seed)
                paths = [f"/v1/search?q={quote(q)}" for q in texts]
            else:
                paths = [f"/v1/search?q={quote(q)}" for q in QUERIES]
            # the API helper's lean open-loop client (raw keep-alive streams: httpx would
            # cost the generator more CPU than the API on two cores)
            api0, ts0 = tree_cpu_s(proc.pid), cpu_s(ts_pid)
            result = asyncio.run(
                run_raw("127.0.0.1", port, paths, rate=rate, duration=args.duration,
                        headers=headers)
            )  # fmt: skip
            done = max(result.requests - result.errors, 1)
            label = (
                f"hybrid search, GET /v1/search (uvicorn x{args.workers}, cache "
                f"{'on' if cache else 'off'}, {kind} queries)"
            )
            verdict = "OK" if result.p99_ms <= 50 else "above the 50 ms target"
            print(result.line(label, rate) + f"  [{verdict}]", flush=True)
            print(
                f"  CPU per request: typesense {(cpu_s(ts_pid) - ts0) * 1000 / done:.1f} ms, "
                f"api {(tree_cpu_s(proc.pid) - api0) * 1000 / done:.1f} ms "
                f"(load average {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
