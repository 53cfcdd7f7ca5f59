"""Raw records of a bronze dataset: list, get, create, replace, patch, delete — single
and batch. Writes go through the spine: each request becomes one stream of the ``api``
source kind (``sources.api``) run by the ordinary worker, so bronze, quarantine, silver,
the DQ statistics and the gold sinks see API records exactly like any other input.
Bronze stays append-only: an update is a new version, a delete a tombstone."""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl

from lakesmith.api.errors import ConflictError, InvalidError, NotFoundError
from lakesmith.api.schemas import PatchIn, RawPage, RawRecord, RecordIn, WriteResult
from lakesmith.api.services import querying
from lakesmith.api.services.datasets import find_contract
from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.core.columns import INGESTED_AT, RECORD_ID, SOURCE
from lakesmith.stores.raw_repository import DELETED, IDENTITY, VERSION, RawRepository

JSON_FORMATS = ("json", "jsonl")
RESERVED = {"limit", "cursor", "history"}


def request_id() -> str:
    """Sorts by time (bronze orders versions by ingestion time, then stream)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(4)


def _decode(payload: bytes | None) -> dict[str, Any] | None:
    if payload is None:
        return None
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested too deep: as text
        try:
            return {"_raw": payload.decode("utf-8")}  # a CSV line
        except UnicodeDecodeError:
            return {"_bytes": len(payload)}  # a PDF: its text and fields are in silver
    return value if isinstance(value, dict) else {"_value": value}


def identity_field(contract: Contract) -> str | None:
    """The field naming a record: the only key, or the first key that is not the event
    time (``device_id`` of ``keys: [device_id, updated_at]``, where each version of a
    device is a row); None for a keyless contract (identities are then generated)."""
    if len(contract.keys) == 1:
        return contract.keys[0]
    return next((k for k in contract.keys if k != contract.event_time), None)


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch (null removes a member)."""
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_patch(out[k], v)
        else:
            out[k] = v
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _versioned(contract: Contract, data: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """A new version's event time is when it was written, unless the client gave one (a
    dataset keyed on (id, event time) keeps each version as its own silver row)."""
    event = contract.field(contract.event_time)
    if event.name in given or len(event.source_path) != 1:
        return data
    return {**data, event.name: _now()}


def _tombstone(contract: Contract, last: dict[str, Any]) -> dict[str, Any]:
    """The payload of a delete: the last version, stamped now, with ``deleted: true`` when
    the contract has a boolean ``deleted`` field (the domain's own tombstone marker)."""
    data = _versioned(contract, dict(last), {})
    if any(f.name == "deleted" and f.type == "boolean" for f in contract.fields):
        data["deleted"] = True
    return data


class RawService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    # -- reading ------------------------------------------------------------------------

    def _repo(self, contract: Contract) -> RawRepository:
        from lakesmith.pipeline.dataset import Dataset

        return RawRepository(Dataset(self.settings, contract).bronze)

    def _versions(self, repo: RawRepository, contract: Contract) -> pl.DataFrame:
        field = identity_field(contract)
        json_payloads = contract.payload.format in JSON_FORMATS
        path = contract.field(field).source_path if field is not None and json_payloads else None
        return repo.versions(path)

    def _records(self, repo: RawRepository, rows: pl.DataFrame) -> list[RawRecord]:
        payloads = repo.payloads(rows[RECORD_ID].to_list())
        return [
            RawRecord(
                id=r[IDENTITY],
                version=r[VERSION],
                deleted=r[DELETED],
                data=_decode(payloads.get(r[RECORD_ID])),
                record_id=r[RECORD_ID],
                source=r[SOURCE],
                ingested_at=r[INGESTED_AT],
            )
            for r in rows.iter_rows(named=True)
        ]

    def list_records(
        self,
        dataset: str,
        params: Sequence[tuple[str, str]],
        limit: int,
        cursor: str | None,
        history: bool,
    ) -> RawPage:
        contract = find_contract(self.settings, dataset)
        if limit < 1 or limit > self.settings.api.max_page_size:
            raise InvalidError(f"limit must be between 1 and {self.settings.api.max_page_size}")
        fields = {f.name: f for f in contract.fields}
        filters = []
        for key, value in params:
            if key in RESERVED:
                continue
            if key not in fields:
                raise InvalidError(f"unknown field {key!r}; filter on: {', '.join(sorted(fields))}")
            if contract.payload.format not in JSON_FORMATS:
                raise InvalidError(
                    f"{dataset} holds {contract.payload.format} records: "
                    "field filters work on JSON datasets"
                )
            filters.append((fields[key].source_path, value))
        repo = self._repo(contract)
        versions = self._versions(repo, contract)
        current = repo.current(versions)
        if not history:
            current = current.filter(~pl.col(DELETED))
        for path, value in filters:
            keep = repo.matching(current[RECORD_ID].to_list(), path, value)
            current = current.filter(pl.col(RECORD_ID).is_in(list(keep)))
        offset = querying.decode_cursor(cursor)
        page = current.slice(offset, limit)
        if history:
            ids = page[IDENTITY].to_list()
            page = versions.filter(pl.col(IDENTITY).is_in(ids))
        more = current.height > offset + limit
        return RawPage(
            items=self._records(repo, page),
            next_cursor=querying.encode_cursor(offset + limit) if more else None,
        )

    def get(self, dataset: str, record: str, history: bool) -> list[RawRecord]:
        contract = find_contract(self.settings, dataset)
        repo = self._repo(contract)
        versions = self._versions(repo, contract).filter(pl.col(IDENTITY) == record)
        if versions.height == 0:
            raise NotFoundError(f"{dataset} has no record {record!r}")
        if not history:
            latest = versions.tail(1)
            if latest[DELETED][0]:
                raise NotFoundError(f"{dataset}: record {record!r} was deleted (see ?history=true)")
            versions = latest
        return self._records(repo, versions)

    # -- writing ------------------------------------------------------------------------

    def _writable(self, dataset: str) -> Contract:
        contract = find_contract(self.settings, dataset)
        if contract.payload.format not in JSON_FORMATS:
            raise ConflictError(
                f"{dataset} holds {contract.payload.format} records: records can be written "
                "through the API to JSON datasets only (upload a file instead)"
            )
        return contract

    def _lock(self, dataset: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(dataset, threading.Lock())

    def _latest(self, contract: Contract, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Current payloads of the live records among ``ids``."""
        repo = self._repo(contract)
        current = repo.current(self._versions(repo, contract)).filter(
            pl.col(IDENTITY).is_in(list(ids)) & ~pl.col(DELETED)
        )
        payloads = repo.payloads(current[RECORD_ID].to_list())
        return {
            i: _decode(payloads.get(r)) or {}
            for i, r in zip(current[IDENTITY].to_list(), current[RECORD_ID].to_list(), strict=True)
        }

    def _identity(self, contract: Contract, rec: RecordIn) -> str:
        key = identity_field(contract)
        from_data = rec.data.get(key) if key is not None else None
        if rec.id is not None and from_data is not None and str(from_data) != rec.id:
            raise InvalidError(f"id {rec.id!r} differs from the record's key {key}={from_data!r}")
        if rec.id is not None:
            return rec.id
        if from_data is not None:
            return str(from_data)
        return str(uuid.uuid4())

    def _check_key(self, contract: Contract, record: str, data: dict[str, Any]) -> None:
        key = identity_field(contract)
        if key is not None and key in data and str(data[key]) != record:
            raise InvalidError(f"a record's key cannot change ({key}: {record!r} → {data[key]!r})")

    def create(self, dataset: str, records: Sequence[RecordIn]) -> WriteResult:
        contract = self._writable(dataset)
        ids = [self._identity(contract, r) for r in records]
        if len(set(ids)) != len(ids):
            raise InvalidError("the request names the same id twice")
        with self._lock(dataset):
            taken = self._latest(contract, ids)
            if taken:
                raise ConflictError(f"{dataset} already has {', '.join(sorted(taken)[:5])}")
            return self._write(contract, "put", ids, [r.data for r in records])

    def replace(self, dataset: str, record: str, data: dict[str, Any]) -> WriteResult:
        return self.update(dataset, [PatchIn(id=record, data=data)], merge=False)

    def update(self, dataset: str, changes: Sequence[PatchIn], merge: bool) -> WriteResult:
        contract = self._writable(dataset)
        ids = [c.id for c in changes]
        if len(set(ids)) != len(ids):
            raise InvalidError("the request names the same id twice")
        with self._lock(dataset):
            live = self._latest(contract, ids)
            missing = [i for i in ids if i not in live]
            if missing:
                raise NotFoundError(f"{dataset} has no live record {', '.join(missing[:5])}")
            new = [
                _versioned(contract, merge_patch(live[c.id], c.data) if merge else c.data, c.data)
                for c in changes
            ]
            for i, d in zip(ids, new, strict=True):
                self._check_key(contract, i, d)
            return self._write(contract, "put", ids, new)

    def delete(self, dataset: str, ids: Sequence[str]) -> WriteResult:
        contract = self._writable(dataset)
        unique = list(dict.fromkeys(ids))
        with self._lock(dataset):
            live = self._latest(contract, unique)
            missing = [i for i in unique if i not in live]
            if missing:
                raise NotFoundError(f"{dataset} has no live record {', '.join(missing[:5])}")
            tombstones = [_tombstone(contract, live[i]) for i in unique]
            return self._write(contract, "delete", unique, tombstones)

    def _write(
        self, contract: Contract, op: str, ids: list[str], data: list[dict[str, Any]]
    ) -> WriteResult:
        from lakesmith.pipeline.ingest import ingest_settings
        from lakesmith.pipeline.worker import Worker
        from lakesmith.sources.api import ApiSourceSpec, stream_name

        spec = ApiSourceSpec(
            dataset=contract.name,
            stream=stream_name(contract.name, request_id(), "delete" if op == "delete" else "put"),
            keys=ids,
            payloads=[json.dumps(d, separators=(",", ":"), default=str).encode() for d in data],
            original_uri_sep=contract.source.uri_sep,
        )
        worker = Worker(
            ingest_settings(self.settings, max(len(ids), 1)),
            contract.model_copy(update={"source": spec}),
            group_id=f"api-{contract.name}",
        )
        try:
            stats = worker.run(until_idle=True)
        finally:
            worker.close()
        by = stats.by_disposition
        return WriteResult(
            dataset=contract.name,
            ids=ids,
            written=stats.records,
            valid=int(by.get("valid", 0)),
            quarantined=int(by.get("quarantined", 0)),
            duplicates=int(by.get("duplicate", 0)),
        )
