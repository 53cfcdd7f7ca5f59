"""An open-loop HTTP load generator (asyncio + httpx) for the API benchmarks.

Request ``i`` is due at ``t0 + i / rate`` whatever the earlier ones did, and its latency
counts from that due time, so a slow server shows up as latency, not as fewer requests
(no coordinated omission). ``run`` returns p50/p90/p99/max latency in ms, the achieved
throughput and the error count.

    stats = asyncio.run(run("http://127.0.0.1:8000", paths, rate=200, duration=20,
                            headers={"Authorization": "Bearer …"}))
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def throughput(self) -> float:
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0

    def line(self, label: str, rate: float) -> str:
        return (
            f"{label}: offered {rate:.0f} req/s, achieved {self.throughput:.1f} req/s, "
            f"p50 {self.p50_ms:.1f} ms, p90 {self.p90_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, "
            f"max {self.max_ms:.1f} ms, errors {self.errors}/{self.requests}"
        )


def percentile(sorted_ms: Sequence[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    k = min(len(sorted_ms) - 1, max(0, round(q * (len(sorted_ms) - 1))))
    return sorted_ms[k]


def _result(latencies: list[float], errors: int, seconds: float) -> LoadResult:
    ms = sorted(latencies)
    return LoadResult(
        requests=len(ms),
        errors=errors,
        seconds=seconds,
        p50_ms=percentile(ms, 0.50),
        p90_ms=percentile(ms, 0.90),
        p99_ms=percentile(ms, 0.99),
        max_ms=ms[-1] if ms else float("nan"),
    )


async def run(
    base_url: str,
    paths: Sequence[str],
    *,
    rate: float,
    duration: float,
    headers: dict[str, str] | None = None,
    warmup: float = 2.0,
    max_connections: int = 64,
) -> LoadResult:
    """Send GET ``paths`` (round robin) at ``rate`` per second for ``duration`` seconds
    after ``warmup`` seconds at the same rate (not counted)."""
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=30.0
    ) as client:
        total = int((warmup + duration) * rate)
        counted_from = int(warmup * rate)
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 0.1

        async def one(i: int) -> None:
            nonlocal errors
            due = t0 + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                response = await client.get(paths[i % len(paths)])
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            if i >= counted_from:
                latencies.append((loop.time() - due) * 1000)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(total)))
        seconds = time.perf_counter() - started - warmup
    return _result(latencies, errors, max(seconds, duration))


async def run_raw(
    host: str,
    port: int,
    paths: Sequence[str],
    *,
    rate: float,
    duration: float,
    headers: dict[str, str] | None = None,
    warmup: float = 2.0,
    connections: int = 32,
) -> LoadResult:
    """Like ``run``, with a lean client: HTTP/1.1 keep-alive over ``connections`` raw
    asyncio streams (httpx costs the generator more CPU per request than the API spends
    on a gold query, which would measure the generator on a small machine). A dispatcher
    releases request ``i`` at its due time into a queue; a free connection takes it."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    requests = [f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode() for p in paths]
    total = int((warmup + duration) * rate)
    counted_from = int(warmup * rate)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    latencies: list[float] = []
    errors = 0

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (item := await queue.get()) is not None:
                i, due = item
                writer.write(requests[i % len(requests)])
                status = (await reader.readline()).split(b" ", 2)
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                if i >= counted_from:
                    latencies.append((loop.time() - due) * 1000)
                    errors += len(status) < 2 or status[1] != b"200"
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    await asyncio.sleep(0.2)  # connections open
    t0 = loop.time()
    started = time.perf_counter()
    for i in range(total):
        due = t0 + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((i, due))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    seconds = time.perf_counter() - started - warmup
    return _result(latencies, errors, max(seconds, duration))
