"""The Eventsim-like simulator, the fluentd-style shipper's slicing and the object reader's
gzip handling (no services)."""

from __future__ import annotations

import gzip
import io
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from lakesmith.domains.music.catalogue import build_catalogue
from lakesmith.domains.music.shipper import (
    ShipOptions,
    object_key,
    ship,
    slices_of_files,
    slices_of_frame,
)
from lakesmith.domains.music.simulator import (
    COLUMNS,
    PAGES,
    MusicSimConfig,
    generate_frame,
    to_jsonl,
)
from lakesmith.sources.objects_io import open_object
from lakesmith.sources.objects_spec import stream_name

START = datetime(2025, 1, 20, tzinfo=UTC)
CATALOGUE = build_catalogue(5_000, use_real=False)


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    return generate_frame(MusicSimConfig(users=300, days=3, seed=5, start=START), CATALOGUE)


def test_same_seed_same_events(events: pl.DataFrame) -> None:
    again = generate_frame(MusicSimConfig(users=300, days=3, seed=5, start=START), CATALOGUE)
    other = generate_frame(MusicSimConfig(users=300, days=3, seed=6, start=START), CATALOGUE)
    assert events.equals(again)
    assert not events.equals(other)


def test_eventsim_shape(events: pl.DataFrame) -> None:
    assert events.height > 20_000
    line = json.loads(to_jsonl(events.head(1)).splitlines()[0])
    assert list(line) == COLUMNS  # Eventsim's 18 keys, in its order
    assert isinstance(line["ts"], int) and isinstance(line["userId"], str)
    logged_in = events.filter(pl.col("auth") == "Logged In").head(1)
    assert re.search(rb'"registration":\d+\.0,', to_jsonl(logged_in))  # a float, as Eventsim
    assert set(events["page"].unique()) <= set(PAGES)
    assert events["ts"].is_sorted()
    assert events.select(["sessionId", "itemInSession", "ts"]).is_duplicated().sum() == 0
    assert events["location"].drop_nulls().str.contains(r"^.+, [A-Z]{2}(-[A-Z]{2})*$").all()


def test_sessions_flow_and_logged_out_visitors(events: pl.DataFrame) -> None:
    first = events.filter(pl.col("itemInSession") == 0)
    assert (first["page"] == "Home").all()
    out = events.filter(pl.col("auth") == "Logged Out")
    assert out.height > 0
    assert (out["userId"] == "").all() and out["firstName"].null_count() == out.height
    assert out["registration"].null_count() == out.height
    assert set(out["page"].unique()) == {"Home", "Login"}
    plays = events.filter(pl.col("page") == "NextSong")
    assert plays.height > 0.7 * events.height
    assert plays["song"].null_count() == 0 and (plays["length"] > 0).all()
    assert events.filter(pl.col("page") != "NextSong")["song"].null_count() > 0


def test_levels_change_with_upgrades_and_downgrades(events: pl.DataFrame) -> None:
    ordered = events.filter(pl.col("auth") == "Logged In").sort("userId", "ts", "itemInSession")
    nxt = ordered.with_columns(
        pl.col("level").shift(-1).over("userId").alias("next_level")
    ).drop_nulls("next_level")
    ups = nxt.filter(pl.col("page") == "Submit Upgrade")
    downs = nxt.filter(pl.col("page") == "Submit Downgrade")
    assert ups.height > 0 and downs.height > 0
    assert (ups["level"] == "free").all() and (ups["next_level"] == "paid").all()
    assert (downs["level"] == "paid").all() and (downs["next_level"] == "free").all()
    others = nxt.filter(~pl.col("page").is_in(["Submit Upgrade", "Submit Downgrade"]))
    assert (others["level"] == others["next_level"]).all()  # levels change only there
    assert (
        events.filter((pl.col("page") == "Roll Advert") & (pl.col("level") == "paid")).height == 0
    )


def test_a_user_has_one_session_at_a_time(events: pl.DataFrame) -> None:
    spans = (
        events.filter(pl.col("userId") != "")
        .group_by("userId", "sessionId")
        .agg(pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
        .sort("userId", "first")
        .with_columns(pl.col("first").shift(-1).over("userId").alias("next_first"))
    )
    assert spans.filter(pl.col("next_first") < pl.col("last")).height == 0
    end = int(datetime(2025, 1, 23, tzinfo=UTC).timestamp() * 1000)
    assert events["ts"].max() < end  # --days 3 from START


def test_song_popularity_is_zipf_like(events: pl.DataFrame) -> None:
    counts = events.filter(pl.col("page") == "NextSong")["song"].value_counts(sort=True)["count"]
    assert counts[0] > 20 * counts[len(counts) // 2]  # a long tail


def test_shipper_slices_by_time(events: pl.DataFrame) -> None:
    options = ShipOptions(bucket="b", batch_seconds=3600, max_events=500)
    slices = list(slices_of_frame(events, options))
    assert sum(s.events for s in slices) == events.height
    assert all(s.events <= 500 for s in slices)
    for s in slices[:5]:
        ts = [json.loads(line)["ts"] for line in s.body.splitlines()]
        assert all(s.start_ms <= t < s.start_ms + 3_600_000 for t in ts)
    key = object_key(
        "events/", int(datetime(2025, 1, 20, 10, 15, tzinfo=UTC).timestamp() * 1000), 0, True
    )
    assert key == "events/2025/01/20/10/events_20250120T1015_0.json.gz"


def test_shipper_keeps_file_lines_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "real.json"
    lines = [
        b'{"ts":1000,"page":"Home","x":"a\\/b"}',
        b"",
        b'{"ts":3600500,"page":"Home"}',
        b"garbage",
    ]
    path.write_bytes(b"\n".join(lines))  # an empty line, no final newline
    slices = list(slices_of_files([path], ShipOptions(bucket="b", batch_seconds=3600)))
    assert [s.body for s in slices] == [lines[0] + b"\n\n", lines[2] + b"\n" + lines[3] + b"\n"]


def _body(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


def test_objects_are_read_gzip_by_magic_bytes() -> None:
    text = b'{"a":1}\n' * 1000
    stream, is_gzip = open_object(_body(gzip.compress(text)))
    assert is_gzip and stream.read(-1) == text and stream.error is None
    stream, is_gzip = open_object(_body(text))  # a .gz name means nothing
    assert not is_gzip and stream.read(-1) == text
    damaged = gzip.compress(text, compresslevel=0)[:-100]
    stream, _ = open_object(_body(damaged))
    kept = stream.read(1 << 20)
    assert 0 < len(kept) < len(text) and text.startswith(kept)  # the bytes before the damage
    assert stream.error is not None and "EOFError" in stream.error
    assert stream.read(10) == b""


def test_stream_names_encode_keys() -> None:
    name = stream_name("landing", "events/a b/ü@x.json", '"abc-2"')
    assert name == "s3://landing/events/a%20b/%C3%BC%40x.json@abc-2"


class _Bucket:
    """A stand-in S3 client: remembers what was put, and when."""

    def __init__(self) -> None:
        self.puts: list[tuple[str, float]] = []

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:  # noqa: N803 (boto3's names)
        self.puts.append((Key, time.monotonic()))


def test_shipper_paces_like_a_live_shipper(events: pl.DataFrame) -> None:
    evening = int(datetime(2025, 1, 20, 20, tzinfo=UTC).timestamp() * 1000)
    first_hours = events.filter(pl.col("ts").is_between(evening, evening + 5 * 60_000 - 1))
    options = ShipOptions(bucket="b", batch_seconds=60, speed=600.0, gzip=False)  # 0.1 s/slice
    client = _Bucket()
    t0 = time.monotonic()
    report = ship(client, slices_of_frame(first_hours, options), options, 0, progress=False)  # type: ignore[arg-type]
    assert report.objects == len(client.puts) >= 3
    # a slice is written once it has closed: slice N after (N + 1) * 0.1 s
    waited = [t - t0 for _, t in sorted(client.puts, key=lambda p: p[1])]
    assert waited[0] >= 0.09 and waited[-1] >= 0.1 * report.objects - 0.02
