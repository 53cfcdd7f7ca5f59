"""``lakesmith ingest`` on files as real exports write them: every row ends in silver or in
quarantine with its row number and reason, with an inferred contract and with a given one."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from lakesmith.cli import app
from lakesmith.config import Settings
from lakesmith.contracts.loader import load_contract
from lakesmith.pipeline.ingest import IngestJob, IngestResult, ingest, prepare
from lakesmith.testing.pipeline import Sinks, read_sinks
from lakesmith.testing.stack import worker_env

pytestmark = pytest.mark.integration

ROW = pl.col("_source").str.extract(r"#row=(\d+)$").cast(pl.Int64)


def _load(
    settings: Settings, path: Path | str, fmt: str | None = None, contract: Path | None = None
) -> tuple[IngestResult, Sinks, int]:
    _, result, sinks, n = _load_job(settings, path, fmt, contract)
    return result, sinks, n


def _load_job(
    settings: Settings, path: Path | str, fmt: str | None = None, contract: Path | None = None
) -> tuple[IngestJob, IngestResult, Sinks, int]:
    name = f"quirks.t_{uuid.uuid4().hex[:8]}"
    job = prepare(settings, str(path), name, fmt=fmt, contract_path=contract)
    result = ingest(settings, job)
    # the dataset commands (``quarantine show NAME`` …) find its contract, given or inferred
    assert load_contract(name, settings.state_dir) == job.contract
    sinks = read_sinks(settings, job.contract)
    stats = result.stats
    # every record is accounted for: bronze has all, silver + quarantine split them
    assert sinks.bronze.height == stats.records
    assert sinks.silver.height == stats.by_disposition.get("valid", 0)
    assert sinks.quarantine.height == stats.by_disposition.get("quarantined", 0)
    assert sinks.silver.height + sinks.quarantine.height == stats.records
    return job, result, sinks, stats.records


def _contract(tmp_path: Path, fields: list[dict[str, Any]], fmt: str = "csv") -> Path:
    path = tmp_path / "contract.yaml"
    data = {
        "name": "quirks.given",
        "source": {"kind": "file", "path": "/replaced/by/ingest"},
        "payload": {"format": fmt},
        "fields": [*fields, {"name": "seen", "type": "timestamp", "path": "@source_ts"}],
        "keys": [],
        "event_time": "seen",
    }
    path.write_text(yaml.safe_dump(data))
    return path


def _silver(sinks: Sinks, *cols: str) -> list[tuple[Any, ...]]:
    return sinks.silver.sort(ROW).select(cols).rows()


def _quarantined(sinks: Sinks) -> dict[int, list[str]]:
    q = sinks.quarantine.select(ROW.alias("row"), "_rule_ids", "_messages")
    return {r: [*ids, *msgs] for r, ids, msgs in q.rows()}


def test_header_with_fewer_names_than_fields(stack_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "short_header.csv"
    path.write_bytes(b"a,b\n1,2,3\n4,5,6\n7,8\n")
    result, sinks, n = _load(stack_settings, path)
    assert n == 3
    assert _silver(sinks, "a", "b", "column_3") == [(1, 2, 3), (4, 5, 6)]
    bad = _quarantined(sinks)
    assert list(bad) == [2]
    assert "invalid_csv" in bad[2] and any("expected 3 fields, found 2" in m for m in bad[2])
    assert result.rules == {"invalid_csv": 1}


def test_header_with_empty_and_repeated_names(stack_settings: Settings, tmp_path: Path) -> None:
    # exports with a blank header cell and a column name used twice: every column is kept
    path = tmp_path / "dupcols.csv"
    path.write_bytes(b"id,value,value,,id\n1,a,b,c,9\n2,d,e,f,10\n")
    result, sinks, n = _load(stack_settings, path)
    assert n == 2 and result.rules == {}
    assert _silver(sinks, "id", "value", "value_3", "column_4", "id_5") == [
        (1, "a", "b", "c", 9),
        (2, "d", "e", "f", 10),
    ]


def test_parquet_with_blank_and_repeated_column_names(
    stack_settings: Settings, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "names.parquet"
    columns = [pa.array([1, 2]), pa.array([3, 4]), pa.array([5, 6]), pa.array(["x", "y"])]
    pq.write_table(pa.Table.from_arrays(columns, names=["a b", "a b", "", "A-B"]), path)
    result, sinks, n = _load(stack_settings, path)
    assert n == 2 and result.rules == {}
    assert _silver(sinks, "a_b", "a_b_2", "column_3", "a_b_3") == [(1, 3, 5, "x"), (2, 4, 6, "y")]


def test_excel_sep_line_before_the_header(stack_settings: Settings, tmp_path: Path) -> None:
    # Excel writes "sep=;" as a first line to name the delimiter: not the header, not a row
    path = tmp_path / "sep.csv"
    path.write_bytes(b"sep=;\r\nname;city\r\nA;B\r\nC;D\r\n")
    result, sinks, n = _load(stack_settings, path)
    assert n == 2 and result.rules == {}
    assert _silver(sinks, "name", "city") == [("A", "B"), ("C", "D")]


def test_a_comment_preamble_before_the_header(stack_settings: Settings, tmp_path: Path) -> None:
    # instrument and tool exports start with "#" lines: not the header, not rows; a header
    # that itself starts with "#" (as many fields as the rows) stays the header
    path = tmp_path / "logger.csv"
    path.write_bytes(b"# exported 2024-05-01\n# device: A7, firmware 2.1\n\nid,v\n1,2\n3,4\n")
    result, sinks, n = _load(stack_settings, path)
    assert n == 2 and result.rules == {}
    assert _silver(sinks, "id", "v") == [(1, 2), (3, 4)]
    assert sinks.silver.select(ROW.alias("row")).sort("row")["row"].to_list() == [0, 1]
    hashed = tmp_path / "hashed.csv"
    hashed.write_bytes(b"#id,name\n1,x\n2,y\n")
    result, sinks, n = _load(stack_settings, hashed)
    assert n == 2 and result.rules == {}
    assert {"id", "name"} <= set(sinks.silver.columns)  # "#id" is named id
    assert _silver(sinks, "id", "name") == [(1, "x"), (2, "y")]


def test_a_wide_export(stack_settings: Settings, tmp_path: Path) -> None:
    # 2,000 columns (the column lookups per field were quadratic: 9.7 s for one row)
    path = tmp_path / "wide.csv"
    names = [f"c{i}" for i in range(2000)]
    path.write_text(",".join(names) + "\n" + ",".join(str(i) for i in range(2000)) + "\n")
    result, sinks, n = _load(stack_settings, path)
    assert n == 1 and result.rules == {}
    assert _silver(sinks, *names) == [tuple(range(2000))]


def test_a_huge_field_and_a_nul_byte(stack_settings: Settings, tmp_path: Path) -> None:
    # a 2 MB field (past Python csv's 128 KiB field limit, which the sample parse hit) and a
    # NUL byte: each row is quarantined with its reason, the others load
    path = tmp_path / "nul.csv"
    path.write_bytes(b"id,text\n1,hello\x00world\n2," + b"x" * 2_000_000 + b"\n3,ok\n")
    _, sinks, n = _load(stack_settings, path)
    assert n == 3
    assert _silver(sinks, "id", "text") == [(3, "ok")]
    bad = _quarantined(sinks)
    assert "invalid_csv" in bad[0] and any("NUL" in m for m in bad[0])
    assert "payload_too_large" in bad[1]


@pytest.mark.parametrize(
    ("name", "data", "encoding"),
    [
        ("latin1.csv", "name;city;amount\nJosé;São Paulo;1,5\nMüller;Köln;2,25\n", "cp1252"),
        ("excel_unicode.txt.csv", "name\tcity\tamount\nJosé\tSão Paulo\t1.5\n", "utf-16"),
    ],
    ids=["windows-1252", "utf-16"],
)
def test_files_in_other_encodings(
    stack_settings: Settings, tmp_path: Path, name: str, data: str, encoding: str
) -> None:
    # Excel exports: Windows-1252 ("CSV"), UTF-16 with a byte-order mark ("Unicode text");
    # the encoding is inferred, kept in the contract, and the rows arrive as UTF-8
    path = tmp_path / name
    path.write_bytes(data.encode(encoding))
    job = prepare(stack_settings, str(path), f"quirks.t_{uuid.uuid4().hex[:8]}")
    assert job.contract.payload.encoding == encoding
    result, sinks, n = _load(stack_settings, path)
    assert result.rules == {}
    expected = [("José", "São Paulo", 1.5), ("Müller", "Köln", 2.25)][:n]
    assert _silver(sinks, "name", "city", "amount") == expected
    assert sinks.bronze["_payload"][0].decode().startswith("José")  # bronze holds UTF-8


def test_quoted_padded_values_with_a_contract(stack_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "padded.csv"
    path.write_bytes(b'"id","qty","name"\n"1","  50","  x"\n"2"," 7 ","y"\n"3","abc","z"\n')
    contract = _contract(
        tmp_path,
        [
            {"name": "id", "type": "long", "required": True},
            {"name": "qty", "type": "long"},
            {"name": "name", "type": "string"},
        ],
    )
    _, sinks, n = _load(stack_settings, path, contract=contract)
    assert n == 3
    assert _silver(sinks, "id", "qty", "name") == [(1, 50, "  x"), (2, 7, "y")]  # text kept
    assert _quarantined(sinks)[2][0] == "qty_type"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("bom.csv", b"\xef\xbb\xbfid,v\n1,2\n3,4\n"),
        ("no_final_newline.csv", b"id,v\n1,2\n3,4"),
        ("crlf.csv", b"id,v\r\n1,2\r\n3,4\r\n"),
        ("tab.tsv", b"id\tv\n1\t2\n3\t4\n"),
        ("pipe.csv", b"id|v\n1|2\n3|4\n"),
        ("semicolon_crlf_bom.csv", b"\xef\xbb\xbfid;v\r\n1;2\r\n3;4"),
    ],
)
def test_byte_order_mark_line_ends_and_delimiters(
    stack_settings: Settings, tmp_path: Path, name: str, data: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    _, sinks, n = _load(stack_settings, path)
    assert n == 2 and sinks.quarantine.height == 0
    assert _silver(sinks, "id", "v") == [(1, 2), (3, 4)]
    assert sinks.silver["file_modified"].null_count() == 0  # the event time: file mtime


def test_excel_export_with_decimal_commas(stack_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(
        b"\xef\xbb\xbfid;price;label;when\r\n"
        b"1;1,5;a;2024-01-02 10:00:00\r\n"
        b'2;"2,25";"b;c";2024-01-03 11:00:00\r\n'
        b"3;x;d;2024-01-04 12:00:00\r\n"
        b"4;3;e;2024-01-05 12:00:00"
    )
    contract = _contract(
        tmp_path,
        [
            {"name": "id", "type": "long", "required": True},
            {"name": "price", "type": "double"},
            {"name": "label", "type": "string"},
            {"name": "when", "type": "timestamp", "timezone": "Europe/Paris"},
        ],
    )
    _, sinks, n = _load(stack_settings, path, contract=contract)
    assert n == 4
    assert _silver(sinks, "id", "price", "label") == [
        (1, 1.5, "a"),
        (2, 2.25, "b;c"),
        (4, 3.0, "e"),
    ]
    assert _quarantined(sinks)[2][0] == "price_type"
    # without a contract the sampled 'x' makes price text, and every row loads
    _, inferred, _ = _load(stack_settings, path)
    assert inferred.silver.height == 4
    assert inferred.silver.schema["when"] == pl.Datetime("us", "UTC")


def test_json_lines_with_empty_lines(stack_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"x":1}\n\n{"x":2}\n   \n{"x":"bad"}\n{broken\n')
    contract = _contract(tmp_path, [{"name": "x", "type": "long"}], fmt="jsonl")
    result, sinks, n = _load(stack_settings, path, contract=contract)
    assert n == 4  # blank lines are not records; line numbers stay physical
    assert _silver(sinks, "x") == [(1,), (2,)]
    bad = _quarantined(sinks)
    assert sorted(bad) == [4, 5]
    assert bad[4][0] == "x_type" and bad[5][0] == "invalid_json"
    assert result.rules == {"x_type": 1, "invalid_json": 1}


def test_cli_writes_the_inferred_contract_and_the_summary(
    stack_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lakesmith.contracts.infer.SAMPLE_ROWS", 50)  # 'x' is past the sample
    path = tmp_path / "orders.csv"
    path.write_bytes(
        b"Order ID,Amount,Created At\n"
        + b"".join(b"%d,%d.5,2024-05-01T10:00:00+02:00\n" % (i, i) for i in range(50))
        + b"x,1,2024-05-01T10:00:00Z\n"
    )
    out = tmp_path / "orders.yaml"
    env = worker_env(stack_settings)
    dataset = f"quirks.orders_{uuid.uuid4().hex[:6]}"
    args = ["ingest", str(path), "--dataset", dataset, "--write-contract", str(out)]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    written = yaml.safe_load(out.read_text())
    fields = {f["name"]: f for f in written["fields"]}
    assert fields["order_id"] == {
        "name": "order_id",
        "type": "long",
        "path": "Order ID",
        "required": True,
    }
    assert fields["amount"]["type"] == "double"
    assert written["event_time"] == "created_at" and written["keys"] == []
    assert written["lake"]["partition_by"] == [{"field": "created_at", "transform": "month"}]
    # the sample saw only numbers; the last row's 'x' is quarantined and the summary says so
    assert "50 to silver, 1 to quarantine (order_id_type 1)" in result.output
    # the same command again: nothing new, no duplicates
    again = CliRunner().invoke(app, args, env=env)
    assert again.exit_code == 0, again.output
    assert "no new rows" in again.output
    # the summary's hint works on the inferred (stored) contract
    shown = CliRunner().invoke(app, ["quarantine", "show", dataset], env=env)
    assert shown.exit_code == 0, shown.output
    assert "order_id_type" in shown.output


def test_an_s3_object_with_a_contract(stack_settings: Settings, tmp_path: Path) -> None:
    from lakesmith.stores.objects import ensure_bucket, s3_client

    client = s3_client(stack_settings)
    ensure_bucket(client, "landing")
    key = f"ingest/{uuid.uuid4().hex[:8]}/events.jsonl"
    client.put_object(Bucket="landing", Key=key, Body=b'{"x":1}\n{"x":2}\n{"x":"bad"}\n')
    contract = _contract(tmp_path, [{"name": "x", "type": "long"}], fmt="jsonl")
    result, sinks, n = _load(stack_settings, f"s3://landing/{key}", contract=contract)
    assert n == 3 and sinks.silver.height == 2
    assert result.rules == {"x_type": 1}


def test_an_s3_object_in_windows_1252(stack_settings: Settings, tmp_path: Path) -> None:
    from lakesmith.stores.objects import ensure_bucket, s3_client

    client = s3_client(stack_settings)
    ensure_bucket(client, "landing")
    key = f"ingest/{uuid.uuid4().hex[:8]}/people.csv"
    client.put_object(Bucket="landing", Key=key, Body="name;city\nJosé;Köln\n".encode("cp1252"))
    contract = _contract(
        tmp_path, [{"name": "name", "type": "string"}, {"name": "city", "type": "string"}]
    )
    data = yaml.safe_load(contract.read_text())
    data["payload"]["encoding"] = "cp1252"
    contract.write_text(yaml.safe_dump(data))
    result, sinks, n = _load(stack_settings, f"s3://landing/{key}", contract=contract)
    assert n == 1 and result.rules == {}
    assert _silver(sinks, "name", "city") == [("José", "Köln")]


def test_s3_objects_without_a_contract_are_sampled(
    stack_settings: Settings, tmp_path: Path
) -> None:
    """No contract: the first objects under the prefix are the sample (gunzipped; the
    format told from the key inside ``.gz`` and the first byte of ``.json``)."""
    import gzip

    from lakesmith.stores.objects import ensure_bucket, s3_client

    client = s3_client(stack_settings)
    ensure_bucket(client, "landing")
    prefix = f"ingest/{uuid.uuid4().hex[:8]}/"
    lines = [f'{{"id": {i}, "page": "Home", "ts": 1700000000{i:03d}}}' for i in range(30)]
    for k in range(3):
        body = gzip.compress(("\n".join(lines[k * 10 : k * 10 + 10]) + "\n").encode())
        client.put_object(Bucket="landing", Key=f"{prefix}events_{k}.json.gz", Body=body)
    client.put_object(Bucket="landing", Key=f"{prefix}events_3.json.gz", Body=b"not gzip at all")
    job, result, sinks, n = _load_job(stack_settings, f"s3://landing/{prefix}")
    assert job.inferred and job.contract.payload.format == "jsonl"
    assert {f.name for f in job.contract.fields} >= {"id", "page", "ts"}
    assert n == 31 and sinks.silver.height == 30
    assert sorted(sinks.silver["id"].cast(pl.Int64).to_list()) == list(range(30))
    assert list(result.rules) == ["invalid_json"]


def test_a_large_s3_object_is_sampled_by_its_first_lines(
    stack_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the first bytes of a large object are fetched for the sample (a Range GET,
    cut at the last whole line); every row is still ingested."""
    from lakesmith.sources import objects_io
    from lakesmith.stores.objects import ensure_bucket, s3_client

    assert objects_io.sample_objects.__defaults__ is not None
    monkeypatch.setattr(objects_io.sample_objects, "__defaults__", (4096, 3))
    client = s3_client(stack_settings)
    ensure_bucket(client, "landing")
    key = f"ingest/{uuid.uuid4().hex[:8]}/orders.csv"
    rows = "".join(f"{i},customer {i},{i * 1.5}\n" for i in range(2000))
    client.put_object(Bucket="landing", Key=key, Body=("order_id,name,amount\n" + rows).encode())
    job, _, sinks, n = _load_job(stack_settings, f"s3://landing/{key}")
    assert job.inferred
    types = {f.name: f.type for f in job.contract.fields}
    assert types["order_id"] == "long" and types["amount"] == "double"
    assert n == 2000 and sinks.silver.height == 2000


def test_an_empty_s3_prefix_is_one_clear_error(stack_settings: Settings) -> None:
    from lakesmith.core.errors import InputError
    from lakesmith.stores.objects import ensure_bucket, s3_client

    ensure_bucket(s3_client(stack_settings), "landing")
    with pytest.raises(InputError, match="no object to sample"):
        prepare(stack_settings, f"s3://landing/nothing-{uuid.uuid4().hex}/", "quirks.empty")


def test_reprocess_and_replay_decode_csv_rows_with_their_files_header(
    stack_settings: Settings, tmp_path: Path
) -> None:
    """Bronze and quarantine keep a CSV row's bytes, not its file's header. Reprocessing
    and replaying decode them with the header recorded when the file was read: here a
    ``;`` delimiter with decimal commas and a column order unlike the contract's (decoded
    by the contract's order and a comma, every row went to quarantine)."""
    from lakesmith.maintenance.replay import replay_quarantine
    from lakesmith.maintenance.reprocess import reprocess_from_bronze

    fields = [
        {"name": "a", "type": "long", "required": True},
        {"name": "b", "type": "double"},
        {"name": "c", "type": "string"},
    ]
    path = _contract(tmp_path, fields)
    strict = yaml.safe_load(path.read_text())
    strict["rules"] = [{"kind": "range", "id": "a_small", "field": "a", "max": 10}]
    path.write_text(yaml.safe_dump(strict))
    data = tmp_path / "export.csv"
    data.write_text("b;a;c\n2,5;1;x\n4,5;42;y\n7,25;3;z\n")
    job, _, sinks, _ = _load_job(stack_settings, data, contract=path)
    expected = [(1, 2.5, "x"), (3, 7.25, "z")]
    assert _silver(sinks, "a", "b", "c") == expected
    why = {1: ["a_small", "a = 42 above the maximum 10.0"]}  # data row 1 (0-based)
    assert _quarantined(sinks) == why

    reprocess_from_bronze(stack_settings, job.contract)
    again = read_sinks(stack_settings, job.contract)
    assert _silver(again, "a", "b", "c") == expected
    assert _quarantined(again) == why

    relaxed = job.contract.model_copy(update={"rules": []})
    report = replay_quarantine(stack_settings, relaxed)
    assert (report.recovered, report.still_invalid) == (1, 0)
    after = read_sinks(stack_settings, relaxed)
    assert _silver(after, "a", "b", "c") == [(1, 2.5, "x"), (42, 4.5, "y"), (3, 7.25, "z")]
    assert after.quarantine.height == 0


def test_a_duplicate_far_apart_in_event_time_is_caught(
    stack_settings: Settings, tmp_path: Path
) -> None:
    """A file's rows may span years of event time: ``ingest`` keeps every key of the run,
    not only the stream worker's ``dedupe_window`` (2 days), even after the index merges
    its chunks (many small batches here)."""
    from datetime import UTC, datetime, timedelta

    start = datetime(2024, 1, 1, tzinfo=UTC)
    lines = ["id,ts,v"] + [
        f"{i},{(start + timedelta(minutes=30 * i)).isoformat()},{i}" for i in range(100_000)
    ]
    lines.append(lines[1])  # row 0 again, ~2,000 days after it in event time
    path = tmp_path / "readings.csv"
    path.write_text("\n".join(lines) + "\n")
    contract = tmp_path / "contract.yaml"
    contract.write_text(
        yaml.safe_dump(
            {
                "name": "quirks.keyed",
                "source": {"kind": "file", "path": "/replaced/by/ingest"},
                "payload": {"format": "csv"},
                "fields": [
                    {"name": "id", "type": "long", "required": True},
                    {"name": "ts", "type": "timestamp"},
                    {"name": "v", "type": "long"},
                ],
                "keys": ["id"],
                "event_time": "ts",
            }
        )
    )
    name = f"quirks.k_{uuid.uuid4().hex[:8]}"
    job = prepare(
        stack_settings, str(path), name, contract_path=contract, memory_limit=540 * 1024 * 1024
    )
    assert job.batch_size * 10 < 100_000  # enough batches for the index to merge its chunks
    result = ingest(stack_settings, job)
    assert result.stats.by_disposition == {"valid": 100_000, "duplicate": 1}
