"""Contract inference: a contract for files nobody wrote one for (``lakesmith ingest``,
``lakesmith watch`` without a contract).

A bounded sample of each file is read with the payload format's own ``read`` (so the
records are split exactly as the ingest will split them): the first ``SAMPLE_BYTES`` of
the file, and for JSON lines a few probes spread through it (keys that appear only late
in a file are found too). Each column's sampled texts give its type — ``long`` (no
leading zeros, so codes such as ``01234`` stay text), ``double`` (a decimal comma in
``;``-separated files), ``boolean`` (``true``/``false`` in any case), ``timestamp`` (ISO 8601; without
a zone — also minutes only or a date alone — it is read as UTC and the contract says so),
else ``string`` — and its
nullability (``required`` when no sampled row misses it). Column names become
lower_snake_case field names with the original name as ``path``.

The inferred contract has no natural key (``keys: []``: no dedupe, replays are dropped
by the positions) and its event time is the first timestamp column (silver is then
partitioned by its month), else the file's modified time (a ``@source_ts`` field). ``evolve`` adds the columns a later file (or a
later part of one) brings as the next schema version, so silver widens when the first
record carrying them arrives.
"""

from __future__ import annotations

import csv as _csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from lakesmith.contracts.model import Contract
from lakesmith.core.errors import InputError
from lakesmith.formats import get_format
from lakesmith.formats.base import file_encoding, is_gzip, open_input
from lakesmith.formats.csv_columns import header_names, sniff_delimiter, unique_names
from lakesmith.quality.typing import ISO8601_WITH_ZONE, NAIVE_FORMATS

SAMPLE_BYTES = 2 * 1024 * 1024  # read from the head of each file
SAMPLE_ROWS = 20_000
PROBES = 4  # JSON lines: extra samples spread through the file …
PROBE_BYTES = 256 * 1024  # … of this many bytes each
DEFAULT_MAX_BYTES = 65536

_INT = re.compile(r"^[-+]?(0|[1-9]\d{0,17})$")
_DECIMAL_COMMA = r"^([-+]?\d+),(\d+)$"


def field_name(column: str, index: int) -> str:
    """``"Customer ID"`` → ``customer_id``; ``"2024"`` → ``c_2024``; ``""`` → ``column_3``."""
    name = re.sub(r"[^a-z0-9]+", "_", column.strip().casefold()).strip("_")
    if not name:
        return f"column_{index + 1}"
    return f"c_{name}" if name[0].isdigit() else name


# -- sampling ------------------------------------------------------------------------------


def _head_records(
    path: Path, fmt: str, encoding: str = "utf-8"
) -> tuple[list[bytes], bytes | None]:
    """The first records of ``path`` (at most ``SAMPLE_ROWS``, about ``SAMPLE_BYTES``) and
    the CSV header, as UTF-8."""
    records: list[bytes] = []
    header: bytes | None = None
    size = 0
    with open_input(path, encoding=encoding) as handle:
        try:
            for chunk in get_format(fmt).read(handle, 1000, DEFAULT_MAX_BYTES * 16):
                header = chunk.context if chunk.context is not None else header
                for p in chunk.payloads:
                    if p:
                        records.append(p)
                        size += len(p)
                if len(records) >= SAMPLE_ROWS or size >= SAMPLE_BYTES:
                    break
        except InputError as exc:  # name the file (a format's error names the problem)
            if str(path) in exc.message:
                raise
            raise InputError(f"cannot read {path}: {exc.message}", hint=exc.hint) from None
    return records[:SAMPLE_ROWS], header


def _probe_lines(path: Path) -> list[bytes]:
    """Complete lines from ``PROBES`` places spread through a JSON-lines file."""
    size = path.stat().st_size
    if size <= SAMPLE_BYTES + PROBE_BYTES or is_gzip(path):  # no seeking into gzip
        return []
    out: list[bytes] = []
    with path.open("rb") as handle:
        for k in range(1, PROBES + 1):
            handle.seek(SAMPLE_BYTES + (size - SAMPLE_BYTES - PROBE_BYTES) * k // PROBES)
            lines = handle.read(PROBE_BYTES).split(b"\n")
            out += [ln.rstrip(b"\r") for ln in lines[1:-1] if ln.strip()]
    return out


def _text(value: Any) -> str | None:
    """A JSON value as the ``json`` decoder hands it to typing."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if value.isascii():
            return value
        # a lone surrogate escape ("\\ud800", valid JSON) is no text Polars can hold
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"))


def _json_columns(lines: Iterable[bytes]) -> dict[str, list[str | None]]:
    rows: list[dict[str, Any]] = []
    for line in lines:
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):  # malformed or nested too deep
            continue  # quarantined at ingest; not evidence of a schema
        if isinstance(obj, dict):
            rows.append(obj)
    names: dict[str, None] = {}
    for obj in rows:
        names.update(dict.fromkeys(obj))
    return {n: [_text(obj.get(n)) for obj in rows] for n in names}


def _csv_columns(
    records: Sequence[bytes], header: bytes | None
) -> tuple[dict[str, list[str | None]], int]:
    """Column texts by header name (``column_<k>`` past the header's width) and the
    delimiter."""
    if header is None:
        return {}, ord(",")
    delimiter = sniff_delimiter(header)
    text = b"\n".join([header, *records]).decode("utf-8", "replace").removeprefix("\ufeff")
    rows = list(_csv.reader(io.StringIO(text, newline=""), delimiter=chr(delimiter)))
    names, body = list(header_names(header)), rows[1:]
    widths = pl.Series([len(r) for r in body], dtype=pl.Int64)
    width = len(names)
    if body:
        common = int(widths.mode().max() or 0)  # type: ignore[arg-type]
        if common > width:  # a header naming fewer columns than the rows have fields
            names = [*names, *(f"column_{k}" for k in range(width + 1, common + 1))]
    columns: dict[str, list[str | None]] = {}
    for i, name in enumerate(names):
        if name in columns:
            continue
        columns[name] = [r[i] if i < len(r) and r[i] != "" else None for r in body]
    return columns, delimiter


# -- typing --------------------------------------------------------------------------------


def infer_type(values: pl.Series, delimiter: int = ord(",")) -> tuple[str, str | None]:
    """``(field type, timezone)`` for a column of sampled texts."""
    present = values.drop_nulls()
    if present.len() == 0:
        return "string", None
    stripped = present.str.strip_chars()
    if stripped.str.contains(_INT.pattern).all():
        return "long", None
    numbers = stripped
    if delimiter == ord(";"):
        numbers = numbers.str.replace(_DECIMAL_COMMA, "${1}.${2}")
    if (
        numbers.cast(pl.Float64, strict=False).null_count() == 0
        and not stripped.str.contains(r"^[-+]?0\d").any()
    ):
        return "double", None
    if present.str.to_lowercase().is_in(["true", "false"]).all():  # also TRUE, False
        return "boolean", None
    zoned = present.str.to_datetime(ISO8601_WITH_ZONE, time_zone="UTC", strict=False)
    if zoned.null_count() == 0:
        return "timestamp", None
    # without a zone (or a mix of both: a field with a timezone reads either), read as UTC
    naive = [present.str.to_datetime(f, strict=False) for f in NAIVE_FORMATS]
    parsed = pl.select(pl.coalesce([pl.lit(s) for s in naive])).to_series()
    if (parsed.is_not_null() | zoned.is_not_null()).all():
        return "timestamp", "UTC"
    return "string", None


def _parquet_type(t: pa.DataType) -> tuple[str, str | None]:
    if pa.types.is_integer(t):
        return "long", None
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "double", None
    if pa.types.is_boolean(t):
        return "boolean", None
    if pa.types.is_timestamp(t):
        return "timestamp", None  # the parquet format writes zone-less times as UTC
    return "string", None


# What spreadsheets, R and databases export for a missing value: a column that is numbers
# (or booleans, timestamps) but for these is typed so, with them as ``null_values``
NULL_MARKERS = ("NA", "N/A", "n/a", "#N/A", "NULL", "null", "None", "none", "-", "?")


def _fields(columns: dict[str, list[str | None]], delimiter: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, values in columns.items():
        series = pl.Series(values, dtype=pl.String)
        ftype, zone = infer_type(series, delimiter)
        markers: list[str] = []
        if ftype == "string":
            stripped = series.str.strip_chars()
            marked = stripped.is_in(NULL_MARKERS).fill_null(False)
            rest = series.filter(~marked)
            if marked.any() and rest.drop_nulls().len():
                rest_type, rest_zone = infer_type(rest, delimiter)
                if rest_type != "string":
                    ftype, zone = rest_type, rest_zone
                    markers = sorted(set(stripped.filter(marked).to_list()))
        required = series.len() > 0 and series.null_count() == 0 and not markers
        out.append(_field(name, ftype, zone, required, markers))
    return out


def _field(
    column: str, ftype: str, zone: str | None, required: bool, nulls: list[str] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": column, "type": ftype, "path": column}
    if zone:
        spec["timezone"] = zone
    if required:
        spec["required"] = True
    if nulls:
        spec["null_values"] = nulls
    return spec


def sample_fields(path: Path, fmt: str, encoding: str = "utf-8") -> list[dict[str, Any]]:
    """The fields a sample of ``path`` shows (``name`` is still the column's own name)."""
    try:
        if fmt == "parquet":
            pf = pq.ParquetFile(path)
            head = next(pf.iter_batches(batch_size=SAMPLE_ROWS), None)
            names = unique_names(pf.schema_arrow.names)  # as the Parquet reader names them
            nulls = [head.column(i).null_count for i in range(len(names))] if head else []
            return [
                _field(name, *_parquet_type(f.type), head is not None and nulls[i] == 0)
                for i, (name, f) in enumerate(zip(names, pf.schema_arrow, strict=True))
            ]
        records, header = _head_records(path, fmt, encoding)
        if fmt == "csv":
            columns, delimiter = _csv_columns(records, header)
            return _fields(columns, delimiter)
        head_cols = _json_columns(records)
        fields = _fields(head_cols, ord(","))
        late = _json_columns(_probe_lines(path)) if fmt == "jsonl" and encoding == "utf-8" else {}
        for name, values in late.items():
            if name not in head_cols:  # seen only later in the file: optional
                f = _fields({name: values}, ord(","))[0]
                f.pop("required", None)
                f["later"] = True
                fields.append(f)
        return fields
    except (OSError, pa.ArrowException, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot sample {path}: {exc}") from exc


# -- the contract --------------------------------------------------------------------------


def _named(fields: list[dict[str, Any]], taken: set[str]) -> list[dict[str, Any]]:
    for i, f in enumerate(fields):
        base = field_name(f["name"], i)
        name, k = base, 2
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name)
        f["name"] = name
    return fields


def infer_contract(
    dataset: str,
    files: Sequence[Path],
    fmt: str,
    *,
    source: dict[str, Any],
    table_format: str | None = None,
    base: Contract | None = None,
) -> Contract:
    """A contract for ``files`` (read in this order), or ``base`` widened by the columns
    the files add (each file that brings new columns adds a schema version)."""
    if base is not None:
        data = base.model_dump(mode="json", exclude_defaults=True, exclude_none=True)
        data["source"] = source
        fields: list[dict[str, Any]] = data["fields"]
    else:
        data = {
            "name": dataset,
            "description": f"inferred from a sample of {files[0] if files else 'no file'}",
            "source": source,
            "payload": {"format": fmt, "max_bytes": DEFAULT_MAX_BYTES},
            "keys": [],
        }
        fields = []
        encoding = file_encoding(files[0]) if files and fmt != "parquet" else "utf-8"
        if encoding != "utf-8":  # e.g. an Excel export in Windows-1252 or UTF-16
            data["payload"]["encoding"] = encoding
    encoding = data["payload"].get("encoding", "utf-8")
    if table_format:
        data["lake"] = {**data.get("lake", {}), "format": table_format}
    known = {f.get("path") or f["name"] for f in fields}
    taken = {f["name"] for f in fields}
    version = max((f.get("since", 1) for f in fields), default=1)
    for path in files:
        found = [f for f in sample_fields(path, fmt, encoding) if f["path"] not in known]
        if not found:
            continue
        first = [f for f in found if not f.pop("later", False)]
        later = [f for f in found if f not in first]
        for group in (first, later):
            if not group:
                continue
            if fields:  # not the first file's columns: a new version, never required
                version += 1
                for f in group:
                    f["since"] = version
                    f.pop("required", None)
            fields += _named(group, taken)
            known |= {f["path"] for f in group}
    for f in fields:
        if f.get("path") == f["name"]:
            f.pop("path")
    if "event_time" not in data:
        stamps = [f for f in fields if f["type"] == "timestamp" and f.get("since", 1) == 1]
        best = next((f for f in stamps if f.get("required")), stamps[0] if stamps else None)
        if best is None:
            name = "file_modified" if "file_modified" not in taken else "_file_modified"
            best = {"name": name, "type": "timestamp", "path": "@source_ts", "required": True}
            fields.append(best)
        else:  # silver by month of the event time: pruning without tiny partitions
            lake = data.setdefault("lake", {})
            lake.setdefault("partition_by", [{"field": best["name"], "transform": "month"}])
        data["event_time"] = best["name"]
    data["fields"] = fields
    if not fields:
        raise InputError(
            f"found no columns to infer a contract from in {', '.join(map(str, files))}",
            hint="check the file and --format, or pass --contract",
        )
    return Contract.model_validate(data)


def contract_yaml(contract: Contract) -> str:
    """The contract as YAML for review (``--write-contract``)."""
    import yaml

    data = contract.model_dump(mode="json", exclude_defaults=True, exclude_none=True)
    data["source"] = contract.source.model_dump(mode="json")
    data.setdefault("keys", [])
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
