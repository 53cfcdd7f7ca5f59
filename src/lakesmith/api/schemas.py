"""The API's domain entities: Pydantic models of what goes over the wire, distinct from
the storage models (SQLModel warehouse classes, lake tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["reader", "writer", "admin"]
JsonObject = dict[str, Any]


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    role: Role


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = {}


class Page(BaseModel):
    """One page of a list; pass ``next_cursor`` as ``?cursor=`` for the next one."""

    items: list[JsonObject]
    next_cursor: str | None = None


class RawRecord(BaseModel):
    """One version of a bronze record as the API shows it."""

    id: str = Field(description="the record's identity: its key, or its bronze record id")
    version: int = Field(description="1 for the first version, +1 per update")
    deleted: bool = False
    data: JsonObject | None = Field(None, description="the payload (JSON object)")
    record_id: str
    source: str
    ingested_at: datetime


class RawPage(BaseModel):
    items: list[RawRecord]
    next_cursor: str | None = None


class RecordIn(BaseModel):
    """A record to create: the payload object; ``id`` optional (else the contract's key
    field, else a new UUID)."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(None, min_length=1, max_length=200)
    data: JsonObject


class PatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=200)
    data: JsonObject


class IdsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[str] = Field(min_length=1, max_length=1000)


class WriteResult(BaseModel):
    dataset: str
    ids: list[str]
    written: int
    valid: int = 0
    quarantined: int = 0
    duplicates: int = 0


class UploadResult(BaseModel):
    dataset: str
    stored_as: str
    format: str
    bytes: int
    records: int
    valid: int
    quarantined: int
    duplicates: int


class DqReport(BaseModel):
    dataset: str
    batches: int
    records_in: int
    valid: int
    quarantined: int
    duplicates: int
    recovered: int
    quarantine_rate: float
    rule_counts: dict[str, int]
    schema_versions: dict[str, int]
    first_processed_at: datetime | None = None
    last_processed_at: datetime | None = None
    newest_event_time: datetime | None = None
    last_lag_seconds: float | None = None


class PipelineStatus(BaseModel):
    dataset: str
    source: str
    records_in: int = 0
    quarantined: int = 0
    last_batch_at: datetime | None = None
    last_lag_seconds: float | None = None
    positions: dict[str, int] = Field(
        default_factory=dict, description="stream → next position committed (lowest sink)"
    )


class SeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = 7
    devices: int = Field(200, ge=1, le=200_000)


class Job(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "interrupted"]
    owner: str
    params: JsonObject = {}
    progress: JsonObject | None = None
    result: JsonObject | None = None
    error: str | None = None
    created_at: datetime
    updated_at: datetime
