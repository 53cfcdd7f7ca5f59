"""The runner: micro-batch loop, idempotent sinks, backfill and compaction jobs."""
