"""The gold API's default page order is an index of the table: the load order and the
key where the model declares one (``user_level_events``: its primary key (user_id, ts,
event_key); ``fact_listen``: (user_id, ts) index, then the key), else the key."""

from __future__ import annotations

from pathlib import Path

from lakesmith.api.services.gold import GoldService
from lakesmith.api.services.querying import ordering
from lakesmith.config import load_settings


def _service(tmp_path: Path) -> GoldService:
    return GoldService(load_settings(state_dir=tmp_path), repo=None)  # type: ignore[arg-type]


def test_default_order_follows_the_tables_index(tmp_path: Path) -> None:
    tables = _service(tmp_path).tables
    assert tables["user_level_events"].default_order == ["user_id", "ts", "event_key"]
    assert tables["fact_listen"].default_order == ["user_id", "ts", "listen_key"]
    assert tables["dim_user"].default_order == ["user_key"]


def test_a_callers_sort_keeps_the_index_as_tiebreaker(tmp_path: Path) -> None:
    rel = _service(tmp_path).tables["user_level_events"]
    order = ordering("-ts", list(rel.kinds), rel.default_order)
    assert [(o.column, o.descending) for o in order] == [
        ("ts", True), ("user_id", False), ("event_key", False),
    ]  # fmt: skip
