"""Where a Delta table lives and how it is laid out: the table's location and S3 options,
its partitioning and sort order, and creating it (``DeltaTable.ensure``).

Layout: ``<warehouse>/<namespace>/<name>`` (``file://`` or ``s3://``), no catalog: the
``_delta_log`` next to the data is the table.

Partitioning. Delta partitions by column value only, so ``identity`` is native and a
``day`` / ``hour`` / ``month`` transform of a timestamp column becomes a plain generated
column ``<col>_<transform>`` (date, UTC timestamp truncated to the hour, date of the 1st of
the month) that ``append`` fills from the timestamp and the table is partitioned by. The
layout is kept in the ``lakesmith.partition_by`` property; ``column_names`` and scans
without ``columns`` hide the generated columns (outside readers see them).

Custom table properties (``lakesmith.schema_version``, …) are stored as Delta table
configuration: delta-rs rejects unknown keys unless asked not to, which we do. Delta has
no sort order: ``sort_by`` (``lakesmith.sort_by``) sorts each appended batch instead.

S3. delta-rs >= 1.0 commits with put-if-absent (``If-None-Match: *``, conditional writes:
AWS S3 since 2024-11, MinIO, R2, moto) and dropped the DynamoDB locking provider;
``AWS_S3_ALLOW_UNSAFE_RENAME`` is only read by older releases (it let a single writer
commit without a lock). In production with several writers use a store with conditional
writes (AWS S3, MinIO, R2) and set ``AWS_CONDITIONAL_PUT=etag`` if the store needs it
spelled out; with delta-rs < 1.0 configure ``AWS_S3_LOCKING_PROVIDER=dynamodb`` +
``DELTA_DYNAMO_TABLE_NAME`` instead of the unsafe rename.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from deltalake import DeltaTable as _Delta

from lakesmith.config import Settings
from lakesmith.core.columns import Column
from lakesmith.core.logging import get_logger
from lakesmith.stores.lake.delta_arrow import create_schema, generated_name

log = get_logger(__name__)

PARTITION_PROP = "lakesmith.partition_by"  # JSON [[column, transform], …]
SORT_PROP = "lakesmith.sort_by"  # JSON [column, …]: rows are sorted on write


def table_uri(settings: Settings, namespace: str, name: str) -> str:
    return f"{settings.effective_warehouse()}/{namespace}/{name}"


def storage_options(settings: Settings) -> dict[str, str]:
    """delta-rs (object_store) options for a warehouse on S3."""
    s3 = settings.lake_s3_options()
    opts = {
        "AWS_ENDPOINT_URL": s3["endpoint"],
        "AWS_REGION": s3["region"],
        # Read by delta-rs < 1.0 only (single writer without a lock; the local server
        # is moto). delta-rs >= 1.0 commits with conditional puts (If-None-Match), safe
        # for several writers on AWS S3 / MinIO / R2 / moto: see the module docstring.
        "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
    }
    if "access_key_id" in s3:  # else object_store's chain (env, web identity, IMDS, ECS)
        opts["AWS_ACCESS_KEY_ID"] = s3["access_key_id"]
        opts["AWS_SECRET_ACCESS_KEY"] = s3["secret_access_key"]
    if s3["endpoint"].startswith("http://"):
        opts["AWS_ALLOW_HTTP"] = "true"
    return opts


def partitioning(dt: _Delta) -> list[tuple[str, str]]:
    """The table's ``(column, transform)`` partitioning, as ``ensure`` was given it."""
    raw = dt.metadata().configuration.get(PARTITION_PROP)
    return [(c, t) for c, t in json.loads(raw)] if raw else []


def generated_columns(dt: _Delta) -> dict[str, tuple[str, str]]:
    """Generated partition column → (source column, transform)."""
    return {generated_name(c, t): (c, t) for c, t in partitioning(dt) if t != "identity"}


def create_table(
    uri: str,
    storage_options: dict[str, str] | None,
    label: str,
    columns: Sequence[Column],
    partition_by: Sequence[tuple[str, str]] = (),
    sort_by: Sequence[str] = (),
    properties: dict[str, str] | None = None,
) -> None:
    """Create the table at ``uri`` with its layout properties. A ``DeltaError`` (another
    worker won the race, or a real error) is the caller's to tell apart by loading it."""
    schema, parts = create_schema(label, columns, partition_by)
    config: dict[str, str | None] = dict(properties or {})
    if partition_by:
        config[PARTITION_PROP] = json.dumps([list(p) for p in partition_by])
    if sort_by:
        config[SORT_PROP] = json.dumps(list(sort_by))
    _Delta.create(
        uri,
        schema,
        mode="error",
        partition_by=parts or None,
        configuration=config,
        storage_options=storage_options,
        raise_if_key_not_exists=False,  # our own lakesmith.* keys
    )
    log.info("delta_table_created", table=label, uri=uri)
