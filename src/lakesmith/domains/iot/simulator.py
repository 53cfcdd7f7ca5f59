"""The W-IOT device fleet simulator: realistic telemetry, schema evolution and bad records.

A fleet of ``devices`` sensors publishes ``rate`` messages per second in total, round-
robin, for ``duration`` seconds of *simulated* time: message ``i`` is stamped
``start + i / rate``, whatever the wall clock says, so a benchmark can pre-produce
millions of events in seconds and every run with the same seed is byte-identical.
Part-way through (``evolve_after``) the fleet's firmware moves from v1.2.0 to v1.3.0
and starts sending ``pressure``, which is how schema evolution is exercised while the
stream runs. A fraction of messages is deliberately broken (``badrecords``), each kind
tagged with the rule the pipeline must quarantine it by, so tests can check outcomes
message by message.

Generation is the hot path (benchmarks produce millions of events), so valid payloads
are one f-string each, per-device state lives in flat lists, the timestamp prefix is
formatted once per simulated second, and messages travel in batches of plain lists
rather than one object each. ``generate`` wraps batches in ``SimMessage`` for tests.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from functools import cache
from typing import NamedTuple

from lakesmith.config import Settings
from lakesmith.contracts import load_contract
from lakesmith.core.errors import LakesmithError
from lakesmith.core.logging import get_logger
from lakesmith.core.progress import progress_bar
from lakesmith.domains.iot.badrecords import KINDS, BadRecords
from lakesmith.sources.produce import TopicProducer
from lakesmith.sources.topics import ensure_topic

log = get_logger(__name__)

DEFAULT_TOPIC = "iot.telemetry"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_RAD = 2 * math.pi / 86400
_PEAK_SHIFT_S = 9 * 3600  # sin(2π(t - 9 h)/24 h) peaks at 15:00 UTC, the warm afternoon
# AR(1) random walks, w' = 0.99·w + step·(u - ½): |w| ≤ step/2/0.01 whatever the seed, so
# base ± cycle ± walk stays inside the contract's ranges by construction (no clamping):
# temperature 15..28 ± 3 ± 5, humidity 35..75 ± 8 ± 15, pressure 990..1030 ± 1.5 ± 10.
# (The constants below are in tenths, the unit the generator computes in.)
_DECAY = 0.99
_STEP_T, _STEP_H, _STEP_P = 1.0, 3.0, 2.0
_AMP_T, _AMP_H, _AMP_P = 30.0, 80.0, 15.0


class SimMessage(NamedTuple):
    """One simulated Kafka message and the outcome the pipeline must report for it.

    ``expected`` is ``"valid"``, ``"duplicate"`` or the id of the rule that must
    quarantine it; ``kind`` is ``"valid"`` or the bad-record kind that produced it.
    """

    key: bytes
    value: bytes
    kind: str
    expected: str


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. ``start=None`` means ``now - duration`` (``now`` if realtime)."""

    devices: int = 100
    rate: float = 100.0  # messages per second over the whole fleet
    duration: float = 60.0  # seconds of simulated stream time
    evolve_after: float | None = None  # seconds after start; None: duration / 2; < 0: never
    bad_ratio: float = 0.0
    seed: int = 0
    topic: str = DEFAULT_TOPIC
    start: datetime | None = None
    realtime: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.devices < 1:
            problems.append(f"devices must be at least 1 (got {self.devices})")
        if not self.rate > 0 or not self.duration > 0:
            problems.append(f"rate and duration must be > 0 (got {self.rate}, {self.duration})")
        elif self.devices / self.rate < 0.001:
            # Two readings of one device in the same millisecond would share the key
            # (device_id, timestamp) and be deduplicated as if they were re-sends.
            problems.append(
                f"each device would send every {self.devices / self.rate * 1000:.3f} ms; "
                "timestamps have millisecond precision, so use rate <= 1000 x devices"
            )
        if not 0.0 <= self.bad_ratio <= 1.0:
            problems.append(f"bad_ratio must be within 0..1 (got {self.bad_ratio})")
        if problems:
            raise LakesmithError("invalid simulation: " + "; ".join(problems))

    @property
    def total(self) -> int:
        """How many messages the run produces: ``round(rate x duration)``."""
        return round(self.rate * self.duration)

    @property
    def evolve_index(self) -> int:
        """Index of the first v2 message: message ``i`` is v2 iff ``i / rate >= evolve_after``."""
        after = self.duration / 2 if self.evolve_after is None else self.evolve_after
        return self.total if after < 0 else min(self.total, math.ceil(after * self.rate))

    def resolved(self, now: datetime | None = None) -> SimConfig:
        """This config with ``start`` fixed (UTC), so every later step sees one start."""
        if self.start is not None:
            start = self.start if self.start.tzinfo else self.start.replace(tzinfo=UTC)
            return replace(self, start=start.astimezone(UTC))
        now = now or datetime.now(UTC)
        return replace(self, start=now if self.realtime else now - timedelta(seconds=self.duration))


@dataclass
class Batch:
    """Consecutive messages as parallel lists; ``bad`` lists (index, kind, expected)."""

    first: int
    keys: list[bytes]
    values: list[bytes]
    bad: list[tuple[int, str, str]] = field(default_factory=list)


def event_time(config: SimConfig, index: int) -> str:
    """The timestamp text of message ``index`` (``config`` must be resolved)."""
    c0, a, b = _message_ms(config)
    sec, milli = divmod((c0 + index * a) // b, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{milli:03d}Z"


def _message_ms(config: SimConfig) -> tuple[int, int, int]:
    """``(c0, a, b)``: message ``i`` is at ``(c0 + i·a) // b`` ms since the epoch.

    That is ``start + i / rate`` in exact integer arithmetic (the start in microseconds,
    the rate as a fraction), truncated to the millisecond, so two messages of one device
    (at least 1 ms apart) never share a millisecond by floating-point accident.
    """
    assert config.start is not None, "resolve the config first"
    start_us = (config.start - _EPOCH) // timedelta(microseconds=1)
    step_us = Fraction(1_000_000) / Fraction(config.rate).limit_denominator(1_000_000)
    q = step_us.denominator
    return start_us * q, step_us.numerator, 1000 * q


def plan_bad(config: SimConfig) -> list[tuple[int, str]]:
    """``(index, kind)`` of every bad message, sorted by index; deterministic by seed.

    ``round(bad_ratio x total)`` slots are drawn from after the first fleet round, so
    every device has sent a valid message before any bad one (a ``duplicate`` always
    has an original to repeat). Kinds are dealt round-robin, so each gets
    ``n // kinds`` or one more, then shuffled over the slots.
    """
    total = config.total
    eligible = range(min(config.devices, total), total)
    n_bad = min(round(config.bad_ratio * total), len(eligible))
    rng = random.Random(f"lakesmith-sim-plan:{config.seed}")
    kinds = [KINDS[j % len(KINDS)] for j in range(n_bad)]
    rng.shuffle(kinds)
    return sorted(zip(rng.sample(eligible, n_bad), kinds, strict=True))


@cache
def _tenths() -> list[str]:
    """``"0.0" … "1200.0"``: the text of every reading in tenths, indexed by tenths.

    Formatting a float costs ~200 ns, a list lookup ~30 ns; with three readings per
    message this table is a third of the generator's time. All valid readings are
    positive and below 1200 (see the bounds above), so the index is never out of range.
    """
    return [f"{x // 10}.{x % 10}" for x in range(12001)]


def batches(config: SimConfig, batch_size: int = 10_000) -> Iterator[Batch]:
    """The whole stream of ``config`` (resolved) in batches of ``batch_size`` messages."""
    cfg = config if config.start is not None else config.resolved()
    n_dev, total, evolve_i = cfg.devices, cfg.total, cfg.evolve_index
    ms_c0, ms_a, ms_b = _message_ms(cfg)
    rng = random.Random(cfg.seed)
    rnd = rng.random
    ids = [f"sensor-{d:04d}" for d in range(n_dev)]
    dev_keys = [s.encode() for s in ids]
    heads = [f'{{"device_id": "{s}", "timestamp": "' for s in ids]
    tenths = _tenths()
    millis = [f'.{m:03d}Z", "temperature": ' for m in range(1000)]
    # State in tenths (+0.5, so int() rounds half up): reading text = tenths[int(x)].
    base_t = [rng.uniform(150.0, 280.0) + 0.5 for _ in ids]
    base_h = [rng.uniform(350.0, 750.0) + 0.5 for _ in ids]
    base_p = [rng.uniform(9900.0, 10300.0) + 0.5 for _ in ids]
    walk_t, walk_h, walk_p = [0.0] * n_dev, [0.0] * n_dev, [0.0] * n_dev
    last_valid = [b""] * n_dev
    plan = iter(plan_bad(cfg))
    next_bad, next_kind = next(plan, (total, ""))
    bad_records = BadRecords()
    last_sec, prefix, cyc_t, cyc_h, cyc_p = -1, "", 0.0, 0.0, 0.0

    for first in range(0, total, batch_size):
        batch = Batch(first, [], [])
        add_key, add_value = batch.keys.append, batch.values.append
        for i in range(first, min(first + batch_size, total)):
            d = i % n_dev
            sec, milli = divmod((ms_c0 + i * ms_a) // ms_b, 1000)
            if sec != last_sec:
                last_sec = sec
                prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
                cyc = math.sin((sec % 86400 - _PEAK_SHIFT_S) * _DAY_RAD)
                cyc_t, cyc_h, cyc_p = _AMP_T * cyc, -_AMP_H * cyc, _AMP_P * cyc
            walk_t[d] = wt = walk_t[d] * _DECAY + (rnd() - 0.5) * _STEP_T
            walk_h[d] = wh = walk_h[d] * _DECAY + (rnd() - 0.5) * _STEP_H
            t = tenths[int(base_t[d] + cyc_t + wt)]
            h = tenths[int(base_h[d] + cyc_h + wh)]  # relative humidity falls as it warms
            if i < evolve_i:
                p = ""
                value = (
                    f'{heads[d]}{prefix}{millis[milli]}{t}, "humidity": {h}, '
                    '"firmware_version": "v1.2.0"}'
                )
            else:
                walk_p[d] = wp = walk_p[d] * _DECAY + (rnd() - 0.5) * _STEP_P
                p = tenths[int(base_p[d] + cyc_p + wp)]
                value = (
                    f'{heads[d]}{prefix}{millis[milli]}{t}, "humidity": {h}, '
                    f'"pressure": {p}, "firmware_version": "v1.3.0"}}'
                )
            add_key(dev_keys[d])
            if i != next_bad:
                add_value(encoded := value.encode())
                last_valid[d] = encoded
                continue
            # A bad slot: the device's readings still advanced, so valid values do not
            # depend on which slots happen to be bad.
            if next_kind == "duplicate":
                payload, expected = last_valid[d], "duplicate"
            else:
                readings: dict[str, object] = {"temperature": float(t), "humidity": float(h)}
                if p:
                    readings["pressure"] = float(p)
                readings["firmware_version"] = "v1.3.0" if p else "v1.2.0"
                ts = f"{prefix}.{milli:03d}Z"
                payload, expected = bad_records.make(next_kind, i, ids[d], ts, readings)
            add_value(payload)
            batch.bad.append((i - first, next_kind, expected))
            next_bad, next_kind = next(plan, (total, ""))
        yield batch


def generate(config: SimConfig) -> Iterator[SimMessage]:
    """Every message of the simulation, in order, with its expected outcome (no Kafka).

    Pure and deterministic: the same (resolved) config gives the same bytes. A config
    without ``start`` is resolved against the current time, so pass ``start`` to
    compare runs.
    """
    for batch in batches(config):
        bad = {idx: (kind, expected) for idx, kind, expected in batch.bad}
        for idx, (key, value) in enumerate(zip(batch.keys, batch.values, strict=True)):
            kind, expected = bad.get(idx, ("valid", "valid"))
            yield SimMessage(key, value, kind, expected)


@dataclass(frozen=True)
class SimReport:
    """What a simulation run produced (counts are exact, by construction)."""

    topic: str
    total: int
    valid: int
    by_kind: dict[str, int]  # bad-record kind (incl. duplicate) → count
    by_expected: dict[str, int]  # outcome the pipeline must report → count (incl. valid)
    first_event: str | None
    last_event: str | None
    seconds: float

    @property
    def rate(self) -> float:
        """Messages per second achieved (generation + produce + flush)."""
        return self.total / self.seconds if self.seconds > 0 else 0.0


def tally(
    config: SimConfig, kinds: Counter[str], expected: Counter[str], seconds: float
) -> SimReport:
    """A ``SimReport`` for a resolved ``config`` from the bad-message counters."""
    total = config.total
    valid = total - sum(kinds.values())
    return SimReport(
        topic=config.topic,
        total=total,
        valid=valid,
        by_kind={k: kinds.get(k, 0) for k in KINDS},
        by_expected={"valid": valid, **dict(sorted(expected.items()))},
        first_event=event_time(config, 0) if total else None,
        last_event=event_time(config, total - 1) if total else None,
        seconds=seconds,
    )


def produce_simulation(
    settings: Settings, config: SimConfig, *, progress: bool = True
) -> SimReport:
    """Produce the simulation to Kafka (topic created first); returns what was sent.

    Keys are device ids, so one device's readings stay ordered on one partition. With
    ``config.realtime`` each batch waits for its wall-clock slot (batches of ~0.1 s of
    traffic); otherwise it runs as fast as the producer accepts messages.
    """
    cfg = config.resolved()
    assert cfg.start is not None
    if cfg.start > datetime.now(UTC) + timedelta(minutes=10):
        log.warning("simulated_events_in_future", start=event_time(cfg, 0))
    ensure_topic(settings, load_contract("iot.telemetry"), topic=cfg.topic)
    batch_size = min(10_000, max(1, int(cfg.rate / 10))) if cfg.realtime else 10_000
    kinds: Counter[str] = Counter()
    expected: Counter[str] = Counter()
    t0 = time.perf_counter()
    with TopicProducer(settings, cfg.topic) as producer, progress_bar(progress) as bar:
        task = bar.add_task(f"simulating {cfg.devices} devices → {cfg.topic}", total=cfg.total)
        for batch in batches(cfg, batch_size):
            if cfg.realtime and (ahead := t0 + batch.first / cfg.rate - time.perf_counter()) > 0:
                time.sleep(ahead)
            producer.send(batch.keys, batch.values)
            for _, kind, outcome in batch.bad:
                kinds[kind] += 1
                expected[outcome] += 1
            bar.update(task, completed=producer.sent)
    report = tally(cfg, kinds, expected, time.perf_counter() - t0)
    log.info("simulation_produced", topic=cfg.topic, total=report.total, valid=report.valid)
    return report
