"""Forgetting what a sink holds, for ``lakesmith reprocess`` (rebuild from bronze): a lake
table dropped (recreated empty by ``Dataset.ensure``), a PostgreSQL sink's rows and
committed positions deleted. The storage calls and SQL of it live here, like every store's.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from lakesmith.core.logging import get_logger

if TYPE_CHECKING:
    import psycopg

    from lakesmith.config import Settings
    from lakesmith.stores.lake import LakeTable

log = get_logger(__name__)


def drop_lake_table(settings: Settings, table: LakeTable) -> None:
    """Drop ``table`` with its committed positions (an Iceberg table from the catalog, its
    files left for the warehouse's garbage collection; a Delta table's folder deleted)."""
    from lakesmith.stores.lake.delta import DeltaTable
    from lakesmith.stores.lake.iceberg import IcebergTable

    if isinstance(table, IcebergTable):
        if table.exists():
            table.catalog.drop_table(table.identifier)
            table._table = None
    elif isinstance(table, DeltaTable):
        uri = table.uri
        if uri.startswith("s3://"):
            from lakesmith.stores.objects import s3_client

            parts = urlparse(uri)
            client = s3_client(settings)
            prefix = parts.path.lstrip("/").rstrip("/") + "/"
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=parts.netloc, Prefix=prefix
            ):
                for o in page.get("Contents", []):
                    client.delete_object(Bucket=parts.netloc, Key=o["Key"])
        else:
            shutil.rmtree(urlparse(uri).path if uri.startswith("file:") else uri, True)
        table._dt = None
    else:
        raise TypeError(f"cannot drop a {type(table).__name__}")
    log.info("lake_table_dropped", table=table.label)


def forget_sink(conn: psycopg.Connection[Any], sink: str, dataset: str | None = None) -> None:
    """Delete a PostgreSQL sink's committed positions (and, with ``dataset``, the DQ
    statistics of that dataset) in one transaction."""
    with conn.transaction():
        conn.execute("DELETE FROM lakesmith.stream_positions WHERE sink = %s", (sink,))
        if dataset is not None:
            conn.execute("DELETE FROM lakesmith.dq_batches WHERE dataset = %s", (dataset,))
