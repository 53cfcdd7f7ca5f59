"""The music star schema in the lake and the warehouse, from hand-written Eventsim rows:
SCD2 on dim_user (in order and out of order across batches), fact_listen pointing to the
version valid at its ts, re-delivered batches, and the BI answers (warehouse SQL and
DuckDB on the lake's gold tables) against expectations computed here independently."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

from lakesmith.config import Settings
from lakesmith.core.records import RawBatch
from lakesmith.pipeline.dataset import Dataset
from lakesmith.pipeline.process import ProcessedBatch, process_batch
from lakesmith.pipeline.sinks import build_sinks
from lakesmith.silver.dedupe import DedupeIndex
from lakesmith.stores.postgres import connect
from lakesmith.testing.pipeline import unique_contract

pytestmark = pytest.mark.integration

T0 = datetime(2025, 1, 20, 10, 0, tzinfo=UTC)
NOW = datetime.now(UTC)
UA_MAC = (
    '"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_4) AppleWebKit/537.36 (KHTML, like Gecko) '
    'Chrome/36.0.1985.143 Safari/537.36"'
)
UA_IPHONE = (
    '"Mozilla/5.0 (iPhone; CPU iPhone OS 7_1_2 like Mac OS X) AppleWebKit/537.51.2 '
    '(KHTML, like Gecko) Version/7.0 Mobile/11D257 Safari/9537.53"'
)
SPLIT = {
    "split_by": "page",
    "tables": {
        "listen_events": ["NextSong"],
        "auth_events": ["Login", "Logout", "Register", "Submit Registration"],
        "status_change_events": ["Submit Upgrade", "Submit Downgrade", "Cancellation Confirmation"],
        "page_view_events": "rest",
    },
}


def event(
    minutes: float,
    user: int | None,
    level: str = "free",
    page: str = "NextSong",
    song: tuple[str, str, float] | None = ("Yellow", "Coldplay", 240.0),
    location: str = "New York-Newark-Jersey City, NY-NJ-PA",
    agent: str = UA_MAC,
    session: int = 1,
) -> dict[str, Any]:
    ts = T0 + timedelta(minutes=minutes)
    listen = page == "NextSong"
    return {
        "ts": int(ts.timestamp() * 1000),
        "userId": "" if user is None else str(user),
        "sessionId": session,
        "itemInSession": int(minutes * 10),
        "page": page,
        "auth": "Logged In" if user is not None else "Logged Out",
        "method": "PUT" if listen else "GET",
        "status": 200,
        "level": level,
        "location": location if user is not None else None,
        "userAgent": agent if user is not None else None,
        "lastName": None if user is None else f"Last{user}",
        "firstName": None if user is None else f"First{user}",
        "registration": 1540919166796.0 if user is not None else None,
        "gender": "F",
        "artist": song[1] if listen and song else None,
        "song": song[0] if listen and song else None,
        "length": song[2] if listen and song else None,
    }


def raw(events: list[dict[str, Any]], stream: str = "test://music/0", start: int = 0) -> RawBatch:
    batch = RawBatch(source="test://")
    batch.extend(stream, list(range(start, start + len(events))), [orjson.dumps(e) for e in events])
    return batch


class Pipeline:
    """Batches through process_batch and every sink of a music dataset (no worker)."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.namespace = f"m_{uuid.uuid4().hex[:8]}"
        self.contract, _ = unique_contract(
            tmp_path,
            "music.events",
            source={"kind": "file", "path": str(tmp_path / "none.jsonl")},
            payload={"format": "json", "max_bytes": 8192},
            silver=SPLIT,
            gold={"model": "music", "namespace": self.namespace},
        )
        self.dataset = Dataset(settings, self.contract).ensure()
        self.settings = settings
        self.offset = 0

    def send(self, events: list[dict[str, Any]]) -> ProcessedBatch:
        batch = self.process(raw(events, start=self.offset))
        self.offset += len(events)
        self.write(batch)
        return batch

    def process(self, raw_batch: RawBatch) -> ProcessedBatch:
        dedupe = DedupeIndex(self.contract.keys)
        self.dataset.prime_dedupe(dedupe)
        batch = process_batch(raw_batch, self.contract, NOW, dedupe)
        self.dataset.evolve(batch)
        return batch

    def write(self, batch: ProcessedBatch) -> None:
        for sink in build_sinks(self.dataset):
            sink.write(batch)
            sink.flush(force=True)
            sink.close()

    def lake(self, table: str) -> pl.DataFrame:
        return self.dataset.gold[table].scan()

    def warehouse(self, table: str) -> pl.DataFrame:
        with connect(self.settings) as conn:
            cur = conn.execute(f'SELECT * FROM "{self.namespace}"."{table}"')
            names = [d.name for d in cur.description or []]
            return pl.DataFrame(cur.fetchall(), schema=names, orient="row")

    def close(self) -> None:
        self.dataset.close()


@pytest.fixture(params=["iceberg", "delta"])
def pipeline(
    request: pytest.FixtureRequest, stack_settings: Settings, tmp_path: Path
) -> Iterator[Pipeline]:
    lake = stack_settings.lake.model_copy(update={"format": request.param})
    p = Pipeline(stack_settings.model_copy(update={"lake": lake}), tmp_path)
    yield p
    p.close()


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def check_versions(frame: pl.DataFrame, facts: pl.DataFrame) -> None:
    """User 7: free [0, 10), paid [10, 20), free [20, open); every fact of the user
    points to the version whose range holds its ts."""
    v = frame.filter(pl.col("user_id") == 7).sort("valid_from")
    assert v["level"].to_list() == ["free", "paid", "free"]
    assert [t.astimezone(UTC) for t in v["valid_from"]] == [_at(0), _at(10), _at(20)]
    assert [t and t.astimezone(UTC) for t in v["valid_to"]] == [_at(10), _at(20), None]
    assert v["is_current"].to_list() == [False, False, True]
    by_key = {r["user_key"]: r for r in v.iter_rows(named=True)}
    mine = facts.filter(pl.col("user_id") == 7)
    assert mine.height == 6
    for fact in mine.iter_rows(named=True):
        version = by_key[fact["user_key"]]
        ts = fact["ts"].astimezone(UTC)
        assert version["valid_from"].astimezone(UTC) <= ts
        assert version["valid_to"] is None or ts < version["valid_to"].astimezone(UTC)
        assert version["level"] == fact["level"]


def _upgrade_downgrade() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    free = [event(0, 7), event(5, 7), event(9, 7, page="Submit Upgrade", song=None)]
    paid = [event(10, 7, "paid"), event(15, 7, "paid")]
    paid += [event(19, 7, "paid", page="Submit Downgrade", song=None)]
    back = [event(20, 7), event(25, 7), event(3, 8, session=2)]
    return free, paid, back


def test_scd2_upgrade_then_downgrade_in_order(pipeline: Pipeline) -> None:
    for events in _upgrade_downgrade():
        pipeline.send(events)
    check_versions(pipeline.lake("dim_user"), pipeline.lake("fact_listen"))
    check_versions(pipeline.warehouse("dim_user"), pipeline.warehouse("fact_listen"))


def test_scd2_downgrade_arrives_before_upgrade(pipeline: Pipeline) -> None:
    free, paid, back = _upgrade_downgrade()
    pipeline.send(free)
    pipeline.send(back)  # the downgrade's events first ...
    pipeline.send(paid)  # ... the paid period's events in a later batch
    check_versions(pipeline.lake("dim_user"), pipeline.lake("fact_listen"))
    check_versions(pipeline.warehouse("dim_user"), pipeline.warehouse("fact_listen"))


def test_redelivered_batch_leaves_gold_unchanged(pipeline: Pipeline) -> None:
    free, paid, _ = _upgrade_downgrade()
    pipeline.send(free)
    batch = pipeline.send(paid)
    tables = ["fact_listen", "dim_user", "dim_song", "dim_location", "dim_user_agent"]
    before = {t: (pipeline.lake(t), pipeline.warehouse(t)) for t in tables}
    pipeline.write(batch)  # the same batch again (a replay after a crash)
    for t in tables:
        lake, wh = before[t]
        key = pipeline.dataset.gold_model.table(t).key  # type: ignore[union-attr]
        assert pipeline.lake(t).sort(key).equals(lake.sort(key)), t
        assert pipeline.warehouse(t).sort(key).equals(wh.sort(key)), t


def test_split_silver_and_dimensions(pipeline: Pipeline) -> None:
    free, paid, back = _upgrade_downgrade()
    anonymous = event(30, None, page="Home", song=None)
    pipeline.send([*free, *paid, *back, anonymous])
    silver = pipeline.dataset.silver_tables
    assert sorted(silver) == [
        "auth_events",
        "listen_events",
        "page_view_events",
        "status_change_events",
    ]
    counts = {name: t.scan().height for name, t in silver.items()}
    assert counts == {
        "listen_events": 7,
        "auth_events": 0,
        "status_change_events": 2,
        "page_view_events": 1,
    }
    assert all(t.positions(["test://music/0"]) for t in silver.values())  # empty ones too
    places = pipeline.lake("dim_location").row(0, named=True)
    assert (places["city"], places["state"], places["primary_state"]) == (
        "New York",
        "NY-NJ-PA",
        "NY",
    )
    assert places["metro"] == "New York-Newark-Jersey City"
    agent = pipeline.warehouse("dim_user_agent").row(0, named=True)
    assert (agent["browser"], agent["os"], agent["device_type"]) == (
        "Chrome",
        "Mac OS X",
        "desktop",
    )
    assert pipeline.lake("dim_date").height == pipeline.warehouse("dim_date").height > 14000
    assert pipeline.lake("dim_time_of_day").height == 1440


# -- the BI answers on a small hand-checked fixture -------------------------------------------

SONGS = [
    ("Yellow", "Coldplay", 269.0),
    ("Hey Jude", "The Beatles", 431.0),
    ("Creep", "Radiohead", 238.5),
]
PLACES = [
    "New York-Newark-Jersey City, NY-NJ-PA",
    "Boston-Cambridge-Newton, MA-NH",
    "Tampa-St. Petersburg-Clearwater, FL",
]
DAY = 24 * 60  # minutes


def bi_events() -> list[dict[str, Any]]:
    """Four users in three places over two days; user 3 upgrades on the second day."""
    plan = [  # (day, minute, user, song index, place index, level)
        (0, 10, 1, 0, 0, "free"), (0, 20, 1, 0, 0, "free"), (0, 30, 1, 1, 0, "free"),
        (0, 40, 2, 2, 1, "paid"), (0, 50, 2, 0, 1, "paid"),
        (0, 60, 3, 1, 2, "free"),
        (1, 10, 3, 1, 2, "paid"), (1, 20, 3, 1, 2, "paid"), (1, 30, 3, 2, 2, "paid"),
        (1, 40, 4, 0, 0, "free"), (1, 50, 4, 2, 0, "free"),
        (1, 60, 2, 1, 1, "paid"),
    ]  # fmt: skip
    return [
        event(d * DAY + m, u, lvl, song=SONGS[s], location=PLACES[p], session=u * 10 + d)
        for d, m, u, s, p, lvl in plan
    ]


def expected(events: list[dict[str, Any]], day: int | None) -> dict[str, list[tuple[Any, ...]]]:
    """The three answers computed with plain Python from the events."""
    plays = [e for e in events if e["page"] == "NextSong"]
    first_day = min(e["ts"] for e in plays) // 86_400_000
    in_period = [e for e in plays if day is None or e["ts"] // 86_400_000 - first_day == day]
    by_place: dict[str, list[dict[str, Any]]] = {}
    for e in plays:
        by_place.setdefault(e["location"], []).append(e)
    usage = sorted(
        (
            (
                loc,
                len(es),
                round(sum(e["length"] for e in es) / 3600, 2),
                len({e["userId"] for e in es}),
            )
            for loc, es in by_place.items()
        ),
        key=lambda r: (-r[1], r[0]),
    )
    songs: dict[tuple[str, str], int] = {}
    for e in in_period:
        songs[(e["song"], e["artist"])] = songs.get((e["song"], e["artist"]), 0) + 1
    top = sorted(((t, a, n) for (t, a), n in songs.items()), key=lambda r: (-r[2], r[0], r[1]))
    hours: dict[int, list[float]] = {}
    for e in in_period:
        hours.setdefault(int(e["userId"]), []).append(e["length"])
    per_user = sorted(
        (
            (u, f"First{u}", f"Last{u}", round(sum(ls) / 3600, 2), len(ls))
            for u, ls in hours.items()
        ),
        key=lambda r: (-r[3], r[0]),
    )
    city = {p: (p.split(", ")[0].split("-")[0], p.split(", ")[1]) for p in PLACES}
    return {
        "usage_by_location": [(*city[loc], n, h, u) for loc, n, h, u in usage],
        "top_songs": top,
        "hours_per_user": per_user,
    }


def test_bi_answers_on_warehouse_and_lake(pipeline: Pipeline) -> None:
    from lakesmith.domains.music import marts

    events = bi_events()
    pipeline.send(events[:7])
    pipeline.send(events[7:])
    day2 = (T0 + timedelta(days=1)).date()
    for day, (start, end) in ((None, (T0.date(), day2)), (1, (day2, day2))):
        want = expected(events, day)
        for question in ("usage_by_location", "top_songs", "hours_per_user"):
            if day is not None and question == "usage_by_location":
                continue  # not a period question
            wh = marts.warehouse_answer(pipeline.dataset, question, start, end)
            lake = marts.lake_answer(pipeline.dataset, question, start, end)
            assert wh.rows() == want[question], (question, day)
            assert lake.rows() == want[question], (question, day)


def test_compaction_covers_every_split_silver_table_and_gold(pipeline: Pipeline) -> None:
    from lakesmith.maintenance.compact import compact
    from lakesmith.stores.lake import CompactOptions

    free, paid, back = _upgrade_downgrade()
    for events in (free, paid, back):
        pipeline.send(events)
    gold = ["fact_listen", "dim_user"]
    keys = {t: pipeline.dataset.gold_model.table(t).key for t in gold}  # type: ignore[union-attr]
    before = {t: pipeline.lake(t).sort(keys[t]) for t in gold}
    reports = compact(pipeline.settings, pipeline.contract, CompactOptions(min_files=2))
    labels = {r.table.split(".")[-1] for r in reports}
    stem = pipeline.contract.table_name
    assert {f"{stem}_{t}" for t in pipeline.dataset.silver_tables} <= labels
    assert set(gold) <= labels  # the gold model's lake tables too
    compacted = {r.table.split(".")[-1]: r for r in reports}
    assert compacted["fact_listen"].files_after < compacted["fact_listen"].files_before
    listens = pipeline.dataset.silver_tables["listen_events"].scan()
    assert listens.height == 7  # six plays of user 7, one of user 8: nothing lost
    for t in gold:  # the same rows after the rewrite
        assert pipeline.lake(t).sort(keys[t]).equals(before[t]), t


def test_reprocess_from_bronze_rebuilds_identical_gold(pipeline: Pipeline) -> None:
    from lakesmith.maintenance.reprocess import reprocess_from_bronze

    free, paid, back = _upgrade_downgrade()
    for events in (free, back, paid):  # with a late upgrade
        pipeline.send(events)
    tables = ["fact_listen", "dim_user", "dim_song", "dim_artist", "dim_location"]
    keys = {t: pipeline.dataset.gold_model.table(t).key for t in tables}  # type: ignore[union-attr]
    before = {
        t: (pipeline.lake(t).sort(keys[t]), pipeline.warehouse(t).sort(keys[t])) for t in tables
    }
    pipeline.close()
    reset, _ = reprocess_from_bronze(pipeline.settings, pipeline.contract)
    assert {"gold", "warehouse"} <= set(reset)
    pipeline.dataset = Dataset(pipeline.settings, pipeline.contract)
    for t in tables:
        lake, wh = before[t]
        assert pipeline.lake(t).sort(keys[t]).equals(lake), t
        assert pipeline.warehouse(t).sort(keys[t]).equals(wh), t


def test_replayed_quarantine_reaches_gold(pipeline: Pipeline) -> None:
    """A listen quarantined by a rule that was too strict reaches fact_listen (lake and
    warehouse) once the rule is fixed and the quarantine replayed."""
    from lakesmith.maintenance.replay import replay_quarantine

    long_play = event(1, 7, "free", song=("Epic", "Band", 90_000.0))
    batch = pipeline.send([event(0, 7, "free", page="Home"), long_play])
    assert batch.quarantine.height == 1  # length above the contract's 86,400 s
    assert pipeline.lake("fact_listen").height == 0
    fixed = [
        r.model_copy(update={"max": 100_000}) if r.id == "length_not_negative" else r
        for r in pipeline.contract.rules
    ]
    contract = pipeline.contract.model_copy(update={"rules": fixed})
    report = replay_quarantine(pipeline.settings, contract)
    assert (report.recovered, report.still_invalid) == (1, 0)
    for facts in (pipeline.lake("fact_listen"), pipeline.warehouse("fact_listen")):
        assert facts.height == 1
        assert facts["duration_s"].to_list() == [90_000.0]
    again = replay_quarantine(pipeline.settings, contract)  # nothing left to replay
    assert again.examined == 0 and pipeline.lake("fact_listen").height == 1
