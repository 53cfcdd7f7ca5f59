"""Calendar dimensions, surrogate keys and the music dimensions' parsing (no services)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from lakesmith.domains.music.gold import MODEL, parse_locations
from lakesmith.domains.music.useragent import parse_user_agent, parse_user_agents
from lakesmith.gold import calendar
from lakesmith.gold.keys import key_of, stable_hash, surrogate_key


def test_dim_date_is_a_full_calendar() -> None:
    d = calendar.dim_date(date(2024, 1, 1), date(2024, 12, 31))
    assert d.height == 366  # leap year, no gaps
    feb29 = d.filter(pl.col("date_key") == 20240229).row(0, named=True)
    assert feb29["day_name"] == "Thursday" and not feb29["is_weekend"]
    assert (feb29["quarter"], feb29["iso_week"], feb29["year_month"]) == (1, 9, "2024-02")
    assert d["date_key"].is_unique().all()


def test_time_of_day_and_fact_keys() -> None:
    t = calendar.dim_time_of_day()
    assert t.height == 1440 and t["time_key"].is_unique().all()
    assert t.filter(pl.col("time_key") == 1345).row(0, named=True)["day_part"] == "afternoon"
    ts = pl.DataFrame({"ts": [datetime(2025, 1, 20, 23, 59, 30, tzinfo=UTC)]})
    keys = ts.select(calendar.date_key(pl.col("ts")).alias("d"), calendar.time_key(pl.col("ts")))
    assert keys.row(0) == (20250120, 2359)


def test_surrogate_keys_are_stable_and_null_safe() -> None:
    frame = pl.DataFrame({"a": ["x", "x", None], "b": [1, 1, 2]})
    keyed = surrogate_key(frame, ["a", "b"], "k")
    assert keyed["k"][0] == keyed["k"][1] == key_of("x", 1)
    assert keyed["k"][2] == key_of(None, 2)
    assert key_of("Coldplay") == 8452447632801534642  # fixed: the same in every run/store
    assert all(0 <= k < 2**63 for k in keyed["k"])


def test_keys_are_postgresqls_hashtextextended_without_the_sign_bit() -> None:
    # hashtextextended('a', 0) and hashtextextended('', 0) as PostgreSQL computes them
    # (tests/unit/test_backfill_checksum.py checks the hash against PostgreSQL itself)
    assert key_of("a") == 3591986179850072241
    assert key_of("") == key_of(None) == -6939563903564495251 & 0x7FFFFFFFFFFFFFFF
    values = ["", "a", "1234567890ab", "12345678901234", "Beyoncé\x1fHalo", "x" * 1000, None]
    got = stable_hash(pl.Series(values))
    assert got.to_list()[1:-1] == [key_of(v) for v in values[1:-1]]
    assert stable_hash(pl.Series(values)[2:5]).to_list() == got.to_list()[2:5]  # sliced
    assert stable_hash(pl.Series([], dtype=pl.String)).to_list() == []
    many = pl.Series([f"artist {i}\x1fsong {i * 7}" for i in range(50_000)])
    assert stable_hash(many).n_unique() == 50_000


def test_locations_split_into_city_metro_and_states() -> None:
    parsed = parse_locations(
        pl.Series(
            ["New York-Newark-Jersey City, NY-NJ-PA", "Tampa-St. Petersburg-Clearwater, FL", None]
        )
    ).sort("location")
    assert parsed.rows() == [
        (
            "New York-Newark-Jersey City, NY-NJ-PA",
            "New York-Newark-Jersey City",
            "NY-NJ-PA",
            "New York",
            "NY",
        ),
        (
            "Tampa-St. Petersburg-Clearwater, FL",
            "Tampa-St. Petersburg-Clearwater",
            "FL",
            "Tampa",
            "FL",
        ),
    ]


def test_user_agent_udf_parses_once_per_distinct_value() -> None:
    mac = '"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_4) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/36.0.1985.143 Safari/537.36"'
    ipad = "Mozilla/5.0 (iPad; CPU OS 7_1_2 like Mac OS X) AppleWebKit/537.51.2 (KHTML, like Gecko) Version/7.0 Mobile/11D257 Safari/9537.53"
    parse_user_agent.cache_clear()
    out = parse_user_agents(pl.Series([mac, ipad, mac, None, mac])).sort("browser")
    assert parse_user_agent.cache_info().misses == 2
    assert out.select("browser", "os", "device", "device_type").rows() == [
        ("Chrome", "Mac OS X", "Mac", "desktop"),
        ("Mobile Safari", "iOS", "iPad", "tablet"),
    ]


def test_model_tables_match_the_warehouse_classes() -> None:
    from lakesmith.stores import warehouse_music

    names = {t.name for t in MODEL.tables}
    assert names == {m.__tablename__ for m in warehouse_music.TABLES}  # type: ignore[attr-defined]
    assert MODEL.static_rows("dim_date").schema == MODEL.table("dim_date").schema
