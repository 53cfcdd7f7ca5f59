"""The contract models (what a dataset's YAML may say)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lakesmith.contracts.plugins import known_formats, parse_spec

FieldType = Literal["string", "long", "double", "boolean", "timestamp"]
TimestampFormat = Literal["iso8601", "epoch_seconds", "epoch_millis"]

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"3650d"`` → ``timedelta``."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"duration {text!r} must look like 30s, 5m, 2h or 7d")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Model):
    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    type: FieldType
    path: str | None = Field(None, description="dotted path in the payload; defaults to name")
    required: bool = False
    since: int = Field(1, ge=1, description="schema version that introduced the field")
    format: TimestampFormat | None = None
    timezone: str | None = Field(
        None,
        description="timestamps written without a zone are local time here (e.g. UTC, "
        "Europe/London); without it such timestamps fail the <field>_type rule",
    )
    empty_as_null: bool = Field(
        False, description='an empty string ("") reads as null (e.g. Eventsim\'s userId "")'
    )
    null_values: list[str] = Field(
        default_factory=list,
        description='texts that read as null, compared without surrounding spaces (e.g. "NA", '
        '"N/A", "NULL": what spreadsheets and R write for a missing number)',
    )
    description: str = ""

    @property
    def source_path(self) -> tuple[str, ...]:
        return tuple((self.path or self.name).split("."))

    @model_validator(mode="after")
    def _format_only_for_timestamps(self) -> FieldSpec:
        if (self.format is not None or self.timezone is not None) and self.type != "timestamp":
            raise ValueError(
                f"field {self.name}: 'format' and 'timezone' apply to timestamp fields only"
            )
        if self.timezone is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"field {self.name}: unknown timezone {self.timezone!r} (use an IANA name "
                    "such as UTC or Europe/London)"
                ) from None
        return self


class RangeRule(_Model):
    kind: Literal["range"]
    id: str
    field: str
    min: float | None = None
    max: float | None = None
    message: str | None = None


class PatternRule(_Model):
    kind: Literal["pattern"]
    id: str
    field: str
    pattern: str
    message: str | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        re.compile(v)
        return v


class EnumRule(_Model):
    kind: Literal["enum"]
    id: str
    field: str
    values: list[str]
    message: str | None = None


class TimeWindowRule(_Model):
    kind: Literal["time_window"]
    id: str
    field: str
    max_future: str = "5m"
    max_age: str = "3650d"
    message: str | None = None

    @field_validator("max_future", "max_age")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v


class RuleCondition(_Model):
    field: str
    values: list[str] = Field(min_length=1, description="the condition holds for these values")


class RequiredIfRule(_Model):
    """``field`` must be present when ``when.field`` is one of ``when.values``
    (e.g. ``song`` when ``page`` is ``NextSong``)."""

    kind: Literal["required_if"]
    id: str
    field: str
    when: RuleCondition
    message: str | None = None


RuleSpec = Annotated[
    RangeRule | PatternRule | EnumRule | TimeWindowRule | RequiredIfRule,
    Field(discriminator="kind"),
]


class SourceSpec(_Model):
    """The contract's ``source:`` section. Each source kind subclasses it with its own
    fields (``sources/<kind>.py``); ``Contract`` validates the section with the model the
    kind registered (``contracts.plugins``)."""

    kind: str

    @property
    def uri(self) -> str:
        """The source's identity, e.g. ``kafka://iot.telemetry`` (used in batch ids)."""
        return f"{self.kind}://"

    @property
    def uri_sep(self) -> str:
        """What joins a stream name and a seq into a record URI (``/``, ``#row=``)."""
        return "/"


class PayloadSpec(_Model):
    format: str = Field("json", description="how records are encoded: json, jsonl, csv, parquet")
    max_bytes: int = Field(65536, ge=64, description="records larger than this are quarantined")
    encoding: str = Field(
        "utf-8",
        description="text encoding of files and objects (cp1252, latin-1, utf-16, …): "
        "transcoded to UTF-8 as the file and s3 sources read them (formats/encoding.py)",
    )
    bronze_fields: list[str] = Field(
        [],
        description="contract fields whose decoded values bronze keeps next to the raw "
        "payload (e.g. a PDF's sha256, pages, text): bronze/decoded.py",
    )

    @property
    def text_encoding(self) -> str:
        """The encoding records are read in: ``encoding``, except for binary Parquet."""
        return "utf-8" if self.format == "parquet" else self.encoding

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        from lakesmith.formats.encoding import canonical

        try:
            return canonical(v)
        except LookupError:
            raise ValueError(
                f"unknown text encoding {v!r} (e.g. utf-8, cp1252, latin-1, utf-16)"
            ) from None

    @field_validator("format")
    @classmethod
    def _known_format(cls, v: str) -> str:
        if v not in known_formats():
            raise ValueError(
                f"unknown payload format {v!r}; use one of: {', '.join(known_formats())}"
            )
        return v


class PartitionField(_Model):
    field: str
    transform: Literal["identity", "day", "hour", "month"] = "identity"


class LakeSpec(_Model):
    format: Literal["iceberg", "delta"] | None = Field(
        None, description="table format of this dataset; lake.format in the settings when unset"
    )
    partition_by: list[PartitionField] = []
    sort_by: list[str] = []


class TimeseriesSpec(_Model):
    table: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    time_column: str = "ts"
    partition_days_ahead: int = Field(3, ge=0)


class SilverSpec(_Model):
    """The contract's ``silver:`` section: one silver table (default) or several, split by
    the values of one field. ``tables`` maps a table name to the values it receives, or to
    ``rest`` (exactly one table: every other value, null included)."""

    split_by: str | None = None
    tables: dict[str, list[str] | Literal["rest"]] = {}
    versions: Literal["first", "latest"] = Field(
        "first",
        description="first: a key's first record wins (later ones are duplicates); latest: "
        "a newer record replaces it and a tombstone deletes it (pipeline.latest_sink)",
    )

    @model_validator(mode="after")
    def _one_rest(self) -> SilverSpec:
        if self.split_by is None:
            if self.tables:
                raise ValueError("silver.tables needs silver.split_by")
            return self
        for name in self.tables:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"silver table name {name!r} must be lower_snake_case")
        rest = [t for t, v in self.tables.items() if v == "rest"]
        if len(rest) != 1:
            raise ValueError("silver.tables needs exactly one table mapped to 'rest'")
        seen: dict[str, str] = {}
        for table, values in self.tables.items():
            for v in values if isinstance(values, list) else ():
                if v in seen:
                    raise ValueError(f"silver value {v!r} is in both {seen[v]} and {table}")
                seen[v] = table
        return self


class GoldSpec(_Model):
    """The contract's ``gold:`` section: the gold model (``gold.registry``) built from
    this dataset's silver rows, in the lake and/or the PostgreSQL warehouse."""

    model: str
    namespace: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="lake namespace and warehouse schema; the model's name when unset",
    )
    lake: bool = True
    warehouse: bool = True

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        from lakesmith.gold.registry import known_models

        if v not in known_models():
            raise ValueError(f"unknown gold model {v!r}; use one of: {', '.join(known_models())}")
        return v

    @property
    def schema_name(self) -> str:
        """Where the gold tables live: lake namespace and warehouse schema."""
        return self.namespace or self.model


class Contract(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    description: str = ""
    source: SourceSpec
    payload: PayloadSpec = PayloadSpec()
    fields: list[FieldSpec]
    keys: list[str]
    event_time: str
    evolution: Literal["evolve", "freeze", "discard_row"] = "evolve"
    lake: LakeSpec = LakeSpec()
    timeseries: TimeseriesSpec | None = None
    rules: list[RuleSpec] = []
    silver: SilverSpec = SilverSpec()
    gold: GoldSpec | None = None

    @field_validator("source", mode="before")
    @classmethod
    def _source_of_kind(cls, v: object) -> object:
        if isinstance(v, dict) and "kind" not in v:
            v = {"kind": "kafka", **v}  # contracts written before other kinds existed
        return parse_spec(v)

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("field names must be unique")
        known = set(names)
        for ref in [*self.keys, self.event_time, *self.lake.sort_by]:
            if ref not in known:
                raise ValueError(f"{ref!r} is not a field of the contract")
        for ref in self.payload.bronze_fields:
            if ref not in known:
                raise ValueError(f"payload.bronze_fields: {ref!r} is not a field of the contract")
            if ref.startswith("_"):
                raise ValueError(
                    f"payload.bronze_fields: {ref!r} starts with '_' (bronze's own columns)"
                )
        if len(set(self.payload.bronze_fields)) != len(self.payload.bronze_fields):
            raise ValueError("payload.bronze_fields must be unique")
        for p in self.lake.partition_by:
            if p.field not in known:
                raise ValueError(f"partition field {p.field!r} is not a field of the contract")
        for r in self.rules:
            if r.field not in known:
                raise ValueError(f"rule {r.id}: {r.field!r} is not a field of the contract")
            if isinstance(r, RequiredIfRule) and r.when.field not in known:
                raise ValueError(f"rule {r.id}: {r.when.field!r} is not a field of the contract")
        if self.silver.versions == "latest" and (len(self.keys) != 1 or self.silver.split_by):
            raise ValueError("silver.versions: latest needs exactly one key and no split")
        if self.silver.split_by is not None and self.silver.split_by not in known:
            raise ValueError(f"silver.split_by {self.silver.split_by!r} is not a field")
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError("rule ids must be unique")
        if self.field(self.event_time).type != "timestamp":
            raise ValueError("event_time must be a timestamp field")
        for k in self.keys:
            if not self.field(k).required:
                raise ValueError(f"key field {k!r} must be required")
        return self

    # -- derived ----------------------------------------------------------------------

    @property
    def table_name(self) -> str:
        """``iot.telemetry`` → ``iot_telemetry`` (table names in every store)."""
        return self.name.replace(".", "_")

    @property
    def latest_version(self) -> int:
        return max(f.since for f in self.fields)

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def fields_at(self, version: int) -> list[FieldSpec]:
        return [f for f in self.fields if f.since <= version]
