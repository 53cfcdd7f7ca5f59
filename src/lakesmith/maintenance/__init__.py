"""Maintenance jobs beside the streaming runner: compaction, quarantine replay, backfill,
checksums."""
