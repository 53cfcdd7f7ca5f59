"""The crash harness as a test (slow, run in CI too): two workers in one consumer group
while events are produced, 22 SIGKILLs at random moments (some self-inflicted right after
a given sink's commit, i.e. between the sinks' commits), then two ``run --until-idle``
drainers: both exit 0 in one round and every sink holds exactly the produced records."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from lakesmith.config import Settings
from lakesmith.domains.iot.simulator import SimConfig, generate, produce_simulation
from lakesmith.sources.kafka import kafka_spec
from lakesmith.testing.pipeline import assert_exactly_once, unique_contract
from lakesmith.testing.stack import worker_env
from lakesmith.testing.workers import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOTAL, KILLS = 60_000, 22
FAULTS = ["silver:1", "bronze:2", "timeseries:1", "quarantine:1", "dq:2"]


def test_two_workers_22_random_kills_then_one_drain_round(
    stack_settings: Settings, tmp_path: Path
) -> None:
    contract, path = unique_contract(tmp_path)
    config = SimConfig(
        devices=60, rate=400, duration=TOTAL / 400, bad_ratio=0.04, seed=77,
        topic=kafka_spec(contract.source).topic,
    ).resolved()  # fmt: skip
    expected = Counter(m.expected for m in generate(config))
    producer = threading.Thread(
        target=produce_simulation, args=(stack_settings, config), kwargs={"progress": False}
    )
    producer.start()
    rng = random.Random(2026)
    env = worker_env(stack_settings, LAKESMITH__WORKER__BATCH_SIZE="700")

    def spawn(i: int) -> WorkerProcess:
        extra = {}
        if i % 3 == 2:  # every third replacement kills itself right after a sink's commit
            extra = {"LAKESMITH_FAULT_KILL_AFTER": FAULTS[(i // 3) % len(FAULTS)]}
        return WorkerProcess(path, {**env, **extra}, until_idle=False)

    workers = [spawn(0), spawn(1)]
    spawned, kills = 2, 0
    while kills < KILLS:
        time.sleep(rng.uniform(0.3, 2.5))
        for i, w in enumerate(workers):
            if w.proc.poll() is not None:  # a fault point fired
                assert w.proc.returncode < 0, w.output()[-2000:]
                kills += 1
                workers[i] = spawn(spawned)
                spawned += 1
        victim = rng.randrange(len(workers))
        workers[victim].kill()
        kills += 1
        workers[victim] = spawn(spawned)
        spawned += 1
    for w in workers:
        w.kill()
    producer.join(timeout=300)
    assert not producer.is_alive()

    # one drain round: the dead members' sessions expire, the drainers share the topic
    drainers = [WorkerProcess(path, worker_env(stack_settings)) for _ in range(2)]
    codes = [d.proc.wait(400) for d in drainers]
    assert codes == [0, 0], [d.output()[-2000:] for d in drainers]
    print(f"{kills} kills, {spawned} workers started, then one drain round")
    assert_exactly_once(stack_settings, contract, expected, TOTAL)
