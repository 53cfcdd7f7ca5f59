"""The IoT simulator without Kafka: determinism, exact bad-record counts, and that each
bad record breaks exactly the one rule it is labelled with (checked against the contract)."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lakesmith.contracts import Contract, load_contract
from lakesmith.contracts.model import PatternRule, RangeRule, TimeWindowRule, parse_duration
from lakesmith.core.errors import LakesmithError
from lakesmith.domains.iot.badrecords import KINDS
from lakesmith.domains.iot.simulator import SimConfig, SimMessage, event_time, generate
from lakesmith.sources import topics
from lakesmith.sources.produce import UNPARSED, read_elements

TS_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FIXED_START = datetime(2025, 1, 20, 10, 15, 30, 250_000, tzinfo=UTC)


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_contract("iot.telemetry")


def _recent(**kw: Any) -> SimConfig:
    """A config whose events lie in the last hour, so the time-window rule passes."""
    start = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    return SimConfig(**{"start": start, **kw})


def failed_rules(value: bytes, contract: Contract, now: datetime) -> set[str]:
    """A small reference validator: the rule ids the pipeline should report for ``value``."""
    if len(value) > contract.payload.max_bytes:
        return {"payload_too_large"}
    try:
        rec = json.loads(value)  # lenient: accepts NaN like the pipeline's decoder
    except ValueError:
        return {"invalid_json"}
    assert isinstance(rec, dict)
    failed: set[str] = set()
    typed: dict[str, Any] = {}
    for f in contract.fields:
        v = rec.get(f.name)
        if v is None:
            if f.required:
                failed.add(f"{f.name}_required")
            continue
        if f.type == "double":
            if isinstance(v, bool) or not isinstance(v, int | float):
                failed.add(f"{f.name}_type")
            elif not math.isfinite(v):
                failed.add(f"{f.name}_not_finite")
            else:
                typed[f.name] = float(v)
        elif f.type == "string":
            if isinstance(v, str):
                typed[f.name] = v
            else:
                failed.add(f"{f.name}_type")
        elif f.type == "timestamp":
            try:
                ts = datetime.fromisoformat(v) if isinstance(v, str) else None
            except ValueError:
                ts = None
            if ts is None or ts.tzinfo is None:
                failed.add(f"{f.name}_type")
            else:
                typed[f.name] = ts
    for rule in contract.rules:
        if rule.field not in typed:
            continue
        v = typed[rule.field]
        if isinstance(rule, RangeRule):
            if (rule.min is not None and v < rule.min) or (rule.max is not None and v > rule.max):
                failed.add(rule.id)
        elif isinstance(rule, PatternRule):
            if not re.search(rule.pattern, v):
                failed.add(rule.id)
        elif isinstance(rule, TimeWindowRule) and not (
            now - parse_duration(rule.max_age) <= v <= now + parse_duration(rule.max_future)
        ):
            failed.add(rule.id)
    return failed


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    cfg = SimConfig(devices=7, rate=50, duration=40, bad_ratio=0.1, seed=42, start=FIXED_START)
    first = list(generate(cfg))
    assert first == list(generate(cfg))
    other = list(generate(SimConfig(**{**cfg.__dict__, "seed": 43})))
    assert [m.value for m in first] != [m.value for m in other]
    assert len(first) == len(other) == 2000


def test_total_is_rate_times_duration_and_devices_round_robin() -> None:
    cfg = SimConfig(devices=3, rate=7.5, duration=10.1, start=FIXED_START)  # 75.75 → 76
    msgs = list(generate(cfg))
    assert len(msgs) == cfg.total == 76
    for i, m in enumerate(msgs):
        rec = json.loads(m.value)
        assert m.key == f"sensor-{i % 3:04d}".encode() == rec["device_id"].encode()


def test_bad_counts_are_exact_and_even_over_kinds() -> None:
    cfg = SimConfig(devices=20, rate=100, duration=100, bad_ratio=0.05, seed=1, start=FIXED_START)
    kinds = Counter(m.kind for m in generate(cfg))
    assert kinds == {"valid": 9500, **dict.fromkeys(KINDS, 50)}

    cfg = SimConfig(devices=20, rate=100, duration=100, bad_ratio=0.0123, start=FIXED_START)
    kinds = Counter(m.kind for m in generate(cfg))
    assert kinds.pop("valid") == 10_000 - 123
    assert kinds == {k: 13 if i < 3 else 12 for i, k in enumerate(KINDS)}

    assert {m.kind for m in generate(SimConfig(bad_ratio=0.0, start=FIXED_START))} == {"valid"}


def test_every_message_fails_exactly_its_expected_rule(contract: Contract) -> None:
    cfg = _recent(devices=13, rate=200, duration=60, bad_ratio=0.2, seed=5)
    now = datetime.now(UTC)
    msgs = list(generate(cfg))
    seen_expected: Counter[str] = Counter()
    for m in msgs:
        seen_expected[m.expected] += 1
        want = set() if m.expected in {"valid", "duplicate"} else {m.expected}
        assert failed_rules(m.value, contract, now) == want, (m.kind, m.value[:200])
    # out_of_range cycles over all three fields (pressure only once v2 has started).
    assert {"temperature_range", "humidity_range", "pressure_range"} <= set(seen_expected)
    assert seen_expected["temperature_type"] == seen_expected["invalid_json"] > 0


def test_bad_records_look_as_described() -> None:
    cfg = _recent(devices=5, rate=100, duration=100, bad_ratio=0.3, seed=9)
    msgs = list(generate(cfg))
    for i, m in enumerate(msgs):
        if m.kind == "malformed_json":
            with pytest.raises(ValueError):
                json.loads(m.value)
            assert m.value.startswith(b'{"device_id": "sensor-')
        elif m.kind == "nan":
            assert b'"temperature": NaN' in m.value
            assert math.isnan(json.loads(m.value)["temperature"])
        elif m.kind == "oversized":
            assert len(m.value) > 4096
            assert json.loads(m.value)["device_id"] == m.key.decode()
        elif m.kind == "wrong_type":
            assert json.loads(m.value)["temperature"] == "hot"
        elif m.kind == "far_future":
            assert json.loads(m.value)["timestamp"].startswith("2100-")
        elif m.kind == "missing_device_id":
            assert "device_id" not in json.loads(m.value)
        elif m.kind == "missing_timestamp":
            assert "timestamp" not in json.loads(m.value)
        elif m.kind == "duplicate":
            earlier = [e for e in msgs[:i] if e.value == m.value]
            assert any(e.expected == "valid" for e in earlier), "re-sends a valid message"
            assert all(e.key == m.key for e in earlier)
    not_dup = [m.value for m in msgs if m.kind != "duplicate"]
    assert len(set(not_dup)) == len(not_dup), "every message except duplicates is unique"
    timestamps = {json.loads(m.value)["timestamp"] for m in msgs if m.kind == "bad_timestamp"}
    assert "yesterday at noon" in timestamps
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", t) for t in timestamps)


def test_schema_evolves_after_evolve_after() -> None:
    cfg = SimConfig(devices=4, rate=10, duration=100, evolve_after=30, start=FIXED_START)
    assert cfg.evolve_index == 300
    for i, m in enumerate(generate(cfg)):
        rec = json.loads(m.value)
        ts = datetime.fromisoformat(rec["timestamp"])
        if i < 300:
            assert "pressure" not in rec and rec["firmware_version"] == "v1.2.0"
            assert ts < FIXED_START + timedelta(seconds=30)
        else:
            assert isinstance(rec["pressure"], float) and rec["firmware_version"] == "v1.3.0"
            assert ts >= FIXED_START + timedelta(seconds=30)
    assert SimConfig(rate=10, duration=100).evolve_index == 500  # default: half-way
    never = SimConfig(devices=4, rate=10, duration=10, evolve_after=-1, start=FIXED_START)
    assert not any(b"pressure" in m.value for m in generate(never))


def test_valid_values_stay_in_range_and_drift_per_device() -> None:
    cfg = _recent(devices=50, rate=1000, duration=200, evolve_after=0, seed=3)
    per_device: dict[bytes, list[float]] = {}
    for m in generate(cfg):
        rec = json.loads(m.value)
        assert 7 <= rec["temperature"] <= 36 and -40 <= rec["temperature"] <= 85
        assert 12 <= rec["humidity"] <= 98
        assert 978 <= rec["pressure"] <= 1042
        for name in ("temperature", "humidity", "pressure"):
            assert round(rec[name], 1) == rec[name]
            assert re.search(rf'"{name}": -?\d+\.\d[,}}]', m.value.decode())
        per_device.setdefault(m.key, []).append(rec["temperature"])
    means = [sum(v) / len(v) for v in per_device.values()]
    assert max(means) - min(means) > 5, "devices have their own base temperature"
    assert all(len(set(v)) > 3 for v in per_device.values()), "readings drift"


def test_timestamps_are_past_iso_millis_and_evenly_spaced() -> None:
    cfg = SimConfig(devices=10, rate=400, duration=30, bad_ratio=0.0)
    before = datetime.now(UTC)
    resolved = cfg.resolved(now=before)
    msgs = list(generate(resolved))
    stamps = [json.loads(m.value)["timestamp"] for m in msgs]
    assert all(TS_FORMAT.match(s) for s in stamps)
    parsed = [datetime.fromisoformat(s) for s in stamps]
    assert all(p <= before for p in parsed)
    assert parsed[0] >= before - timedelta(seconds=30, milliseconds=1)
    assert resolved.start is not None
    for i in (0, 1, 399, 400, 11_999):
        want = resolved.start + timedelta(seconds=i / 400)
        assert abs((parsed[i] - want).total_seconds()) < 0.001
        assert stamps[i] == event_time(resolved, i)
    # Without an explicit config start, generate resolves against "now".
    assert all(
        datetime.fromisoformat(json.loads(m.value)["timestamp"]) <= datetime.now(UTC)
        for m in generate(SimConfig(devices=2, rate=10, duration=5))
    )


def test_fractional_rate_keeps_one_device_per_millisecond() -> None:
    cfg = SimConfig(devices=3, rate=3000, duration=2, start=FIXED_START)
    keys = [(m.key, json.loads(m.value)["timestamp"]) for m in generate(cfg)]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize(
    "kw",
    [
        {"bad_ratio": 1.5},
        {"bad_ratio": -0.1},
        {"devices": 0},
        {"rate": 0},
        {"duration": -1},
        {"devices": 2, "rate": 5000},  # a device every 0.4 ms
    ],
)
def test_invalid_configs_are_rejected(kw: dict[str, Any]) -> None:
    with pytest.raises(LakesmithError):
        SimConfig(**kw)


def test_all_bad_still_starts_with_a_valid_round() -> None:
    cfg = SimConfig(devices=5, rate=10, duration=10, bad_ratio=1.0, start=FIXED_START)
    msgs = list(generate(cfg))
    assert all(m.kind == "valid" for m in msgs[:5])
    assert all(m.kind != "valid" for m in msgs[5:])


def test_sim_message_is_a_light_tuple() -> None:
    m = next(generate(SimConfig(devices=1, rate=1, duration=1, start=FIXED_START)))
    assert isinstance(m, SimMessage) and isinstance(m, tuple)
    assert m.expected == m.kind == "valid"


# -- sources.produce: reading files ---------------------------------------------------------


def test_read_elements_json_array_lines_and_lenient(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    arr = b'[{"a": 1}, 2, [3]]'
    assert [(v, raw) for v, raw in read_elements(arr, p)] == [
        ({"a": 1}, None),
        (2, None),
        ([3], None),
    ]

    lines = b'{"a": 1}\n\nnot json\n{"b": NaN}\n"s"\n'
    out = list(read_elements(lines, p))
    assert out[0] == ({"a": 1}, None)
    assert out[1] == (UNPARSED, b"not json")
    assert math.isnan(out[2][0]["b"]) and out[2][1] == b'{"b":NaN}'
    assert out[3] == ("s", None)

    assert list(read_elements(b'  {\n "a": [1,\n 2]\n}\n', p)) == [({"a": [1, 2]}, None)]
    assert list(read_elements(b"  \n", p)) == []
    with pytest.raises(LakesmithError):
        list(read_elements(b'[{"a": 1},', p))


# -- sources.topics: the config fallback ------------------------------------------------------


class _Future:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def result(self, timeout: float) -> None:
        if self.error is not None:
            raise self.error


class _Part:
    leader = 1
    error = None


class _FakeAdmin:
    """Rejects topic configs, like a broker with a create-topic policy."""

    def __init__(self, _conf: dict[str, Any]) -> None:
        self.created: list[Any] = []
        self.topics: dict[str, Any] = {}

    def list_topics(self, timeout: float) -> Any:
        topics = {
            name: type("T", (), {"error": None, "partitions": dict.fromkeys(range(n), _Part())})
            for name, n in self.topics.items()
        }
        return type("MD", (), {"topics": topics})

    def create_topics(self, new: list[Any], request_timeout: float) -> dict[str, _Future]:
        from confluent_kafka import KafkaError, KafkaException

        t = new[0]
        self.created.append(t)
        if t.config:
            return {t.topic: _Future(KafkaException(KafkaError(KafkaError.POLICY_VIOLATION)))}
        self.topics[t.topic] = t.num_partitions
        return {t.topic: _Future(None)}


def test_ensure_topic_retries_without_rejected_config(
    monkeypatch: pytest.MonkeyPatch, contract: Contract
) -> None:
    admins: list[_FakeAdmin] = []

    def make(conf: dict[str, Any]) -> _FakeAdmin:
        admins.append(_FakeAdmin(conf))
        return admins[-1]

    make({})
    monkeypatch.setattr(topics, "admin_client", lambda settings: admins[0])
    # the broker "answers" with what the fake admin holds (no broker in unit tests)
    monkeypatch.setattr(topics, "check_reachable", lambda settings: admins[0].list_topics(1))
    from lakesmith.config import load_settings

    settings = load_settings()
    assert topics.ensure_topic(settings, contract, topic="t1") is True
    created = admins[0].created
    assert [c.config or {} for c in created] == [{"retention.ms": str(168 * 3_600_000)}, {}]
    assert admins[0].topics == {"t1": 6}
    # Idempotent: an existing topic is left alone.
    assert topics.ensure_topic(settings, contract, topic="t1") is False
    assert len(admins[0].created) == 2
