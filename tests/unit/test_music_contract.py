"""The music.events contract: Eventsim lines typed and checked, the required_if rule kind
and empty strings read as null."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import polars as pl
import pytest

from lakesmith.contracts import load_contract
from lakesmith.core.errors import ContractError
from lakesmith.core.records import RawBatch
from lakesmith.pipeline.process import ProcessedBatch, process_batch
from lakesmith.silver.dedupe import DedupeIndex

CONTRACT = load_contract("music.events")
NOW = datetime(2025, 1, 20, 12, tzinfo=UTC)
TS = int(datetime(2025, 1, 20, 10, tzinfo=UTC).timestamp() * 1000)

PLAY = {
    "artist": "Des'ree", "auth": "Logged In", "firstName": "Kaylee", "gender": "F",
    "itemInSession": 1, "lastName": "Summers", "length": 246.30812, "level": "free",
    "location": "Phoenix-Mesa-Scottsdale, AZ", "method": "PUT", "page": "NextSong",
    "registration": 1540344794796.0, "sessionId": 139, "song": "You Gotta Be", "status": 200,
    "ts": TS, "userAgent": '"Mozilla/5.0 (Windows NT 6.1; WOW64)"', "userId": "8",
}  # fmt: skip
LOGGED_OUT = {
    **PLAY, "artist": None, "song": None, "length": None, "page": "Home", "auth": "Logged Out",
    "firstName": None, "lastName": None, "gender": None, "location": None,
    "registration": None, "userAgent": None, "userId": "", "itemInSession": 0, "method": "GET",
}  # fmt: skip


def run(*records: dict[str, object]) -> ProcessedBatch:
    raw = RawBatch(source="test://")
    raw.extend("s", list(range(len(records))), [orjson.dumps(r) for r in records])
    return process_batch(raw, CONTRACT, NOW, DedupeIndex(CONTRACT.keys), None)


def reasons(batch: ProcessedBatch) -> list[list[str]]:
    return batch.quarantine.sort("_seq")["_rule_ids"].to_list()


def test_real_shaped_lines_are_typed() -> None:
    batch = run(PLAY, {**LOGGED_OUT, "sessionId": 140})
    assert batch.quarantine.height == 0
    silver = batch.silver.sort("session_id")
    assert silver["user_id"].to_list() == [8, None]  # "" → null, not a type error
    assert silver["registration"].to_list()[0] == datetime(2018, 10, 24, 1, 33, 14, 796000, UTC)
    assert silver["ts"].dtype == pl.Datetime("us", "UTC")
    assert silver["first_name"].to_list() == ["Kaylee", None]


def test_rule_failures_are_quarantined_with_reasons() -> None:
    batch = run(
        {**PLAY, "page": "Dance"},
        {**PLAY, "itemInSession": 2, "length": -3.0},
        {**PLAY, "itemInSession": 3, "ts": 0},
        {**PLAY, "itemInSession": 4, "song": None},
        {**PLAY, "itemInSession": 5, "song": ""},
        {**LOGGED_OUT, "itemInSession": 6, "song": None},  # a page view needs no song
        {**PLAY, "itemInSession": 7, "userId": "abc"},
    )
    assert reasons(batch) == [
        ["page_known"],
        ["length_not_negative"],
        ["ts_window"],
        ["song_when_next_song"],
        ["song_when_next_song"],
        ["user_id_type"],
    ]
    messages = batch.quarantine.sort("_seq")["_messages"].to_list()
    assert messages[3] == ["song is required when page = 'NextSong'"]


def test_required_if_checks_its_condition_field() -> None:
    data = CONTRACT.model_dump(mode="json")
    data["source"] = CONTRACT.source.model_dump(mode="json")
    when = {"field": "nope", "values": ["a"]}
    data["rules"] = [{"id": "x", "kind": "required_if", "field": "song", "when": when}]
    with pytest.raises(ValueError, match="'nope' is not a field"):
        type(CONTRACT).model_validate(data)
    with pytest.raises(ContractError):
        load_contract("music.nope")
