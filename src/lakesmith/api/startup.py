"""What the app does when it starts (migrations, bookkeeping tables) and what readiness
checks."""

from __future__ import annotations

from lakesmith.api.context import AppContext
from lakesmith.core.errors import LakesmithError
from lakesmith.core.logging import get_logger

log = get_logger(__name__)


def migrate(ctx: AppContext) -> list[str]:
    """Apply the warehouse migrations that are missing; returns the schemas upgraded."""
    from lakesmith.api.services.gold import warehouse_models
    from lakesmith.stores.warehouse import upgrade
    from lakesmith.stores.warehouse_status import current_revision, head_revision

    done = []
    for model, schema in warehouse_models(ctx.settings).items():
        head = head_revision(ctx.settings, model, schema)
        if head is None:
            continue
        with ctx.pool.connection() as conn:
            current = current_revision(conn, schema)
        if current != head:
            upgrade(ctx.settings, model, schema)
            done.append(schema)
    if done:
        log.info("api_migrated", schemas=done)
    return done


def prepare(ctx: AppContext) -> None:
    from lakesmith.stores.meta import ensure_meta_schema
    from lakesmith.stores.users import ensure_users_table

    with ctx.pool.connection() as conn:
        ensure_meta_schema(conn)
        ensure_users_table(conn)
    interrupted = ctx.jobs.start()
    if interrupted:
        log.warning("api_jobs_interrupted", jobs=interrupted)
    if ctx.settings.api.migrate_on_start:
        migrate(ctx)


def readiness(ctx: AppContext) -> dict[str, str]:
    from lakesmith.api.errors import ApiError
    from lakesmith.api.services.gold import warehouse_models
    from lakesmith.stores.warehouse_status import current_revision, head_revision

    checks: dict[str, str] = {}
    try:
        ctx.gold.repo.ping()
        checks["postgres"] = "ok"
    except (LakesmithError, OSError, Exception) as exc:
        checks["postgres"] = f"unreachable: {str(exc).splitlines()[0][:200]}"
    try:
        ctx.search.ping()
        checks["typesense"] = "ok"
    except ApiError as exc:
        checks["typesense"] = exc.message
    if checks["postgres"] == "ok":
        behind = []
        for model, schema in warehouse_models(ctx.settings).items():
            head = head_revision(ctx.settings, model, schema)
            with ctx.pool.connection() as conn:
                if head is not None and current_revision(conn, schema) != head:
                    behind.append(schema)
        checks["migrations"] = "ok" if not behind else f"not applied: {', '.join(behind)}"
    else:
        checks["migrations"] = "unknown (PostgreSQL unreachable)"
    return checks
