"""Slowly changing dimensions, type 2, merged in Polars — late events included.

A version of an entity is a run of observations with the same tracked values. Each stored
version keeps ``valid_from`` (its first observation) and ``last_seen`` (its last). Merging
a batch puts the stored versions' two ends and the batch's observations in time order,
starts a new version wherever the tracked values change, and closes each version at the
next one's ``valid_from`` (``valid_to``; null and ``is_current`` for the newest). In
order, that is exact. An observation older than stored ones (events arriving out of order
across batches) can split a stored version, which then resumes at its first observation
*after* the late one — not among the two ends: the caller passes the entity's earlier
observations too (the music model keeps them in ``user_level_events``), and the result
is the one of a single batch in time order. Only entities whose versions changed are
returned, for a ``replace`` of all their versions.

A version's key is the surrogate key of (entity, ``valid_from``): stable while the version
keeps its start, new when a late event moves it — facts pointing into the entity's
history from that time on are then re-pointed (``repoint``).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from lakesmith.gold.keys import surrogate_key

VALID_FROM, VALID_TO, LAST_SEEN, IS_CURRENT = "valid_from", "valid_to", "last_seen", "is_current"
_T = "__t"


def merge_versions(
    observations: pl.DataFrame,
    existing: pl.DataFrame,
    entity: str,
    time: str,
    tracked: Sequence[str],
    attributes: Sequence[str],
    version_key: str,
) -> pl.DataFrame:
    """The new versions of the entities of ``observations`` whose versions changed.

    ``observations``: ``entity``, ``time``, ``tracked``, ``attributes`` (type 1: the latest
    non-null value wins, on every version). ``existing``: the stored versions of (at least)
    those entities, with ``valid_from``/``last_seen``."""
    tracked = list(tracked)
    obs = observations.filter(pl.col(entity).is_not_null()).select(
        entity, pl.col(time).alias(_T), *tracked, *attributes
    )
    if obs.height == 0:
        return existing.clear()
    entities = obs.select(pl.col(entity).unique())
    old = existing.join(entities, on=entity, how="semi")
    ends = pl.concat(
        [
            old.select(entity, pl.col(VALID_FROM).alias(_T), *tracked),
            old.select(entity, pl.col(LAST_SEEN).alias(_T), *tracked),
            obs.select(entity, _T, *tracked),
        ]
    ).unique()
    changed = pl.any_horizontal(
        [pl.col(c).ne_missing(pl.col(c).shift(1).over(entity)) for c in tracked]
    )
    runs = ends.sort(entity, _T, *tracked).with_columns(
        changed.cum_sum().over(entity).alias("__run")
    )
    versions = (
        runs.group_by(entity, "__run")
        .agg(
            pl.col(_T).min().alias(VALID_FROM),
            pl.col(_T).max().alias(LAST_SEEN),
            *[pl.col(c).first() for c in tracked],
        )
        .sort(entity, VALID_FROM)
        .with_columns(pl.col(VALID_FROM).shift(-1).over(entity).alias(VALID_TO))
        .with_columns(pl.col(VALID_TO).is_null().alias(IS_CURRENT))
        .drop("__run")
    )
    latest = _latest_attributes(obs, old, entity, attributes)
    versions = versions.join(latest, on=entity, how="left")
    versions = surrogate_key(
        versions.with_columns(pl.col(VALID_FROM).dt.epoch("us").alias("__from")),
        [entity, "__from"],
        version_key,
    ).drop("__from")
    if old.height == 0:
        return versions
    # entities whose versions are exactly the stored ones need no write
    cols = [c for c in versions.columns if c in old.columns]
    same = versions.select(cols).join(old.select(cols), on=cols, how="anti", nulls_equal=True)
    touched = same.select(pl.col(entity).unique())
    gone = old.select(cols).join(versions.select(cols), on=cols, how="anti", nulls_equal=True)
    touched = pl.concat([touched, gone.select(pl.col(entity).unique())]).unique()
    return versions.join(touched, on=entity, how="semi")


def _latest_attributes(
    obs: pl.DataFrame, old: pl.DataFrame, entity: str, attributes: Sequence[str]
) -> pl.DataFrame:
    if not attributes:
        return obs.select(pl.col(entity).unique())
    stored = old.sort(LAST_SEEN).select(entity, pl.col(LAST_SEEN).alias(_T), *attributes)
    both = pl.concat([stored, obs.select(entity, _T, *attributes)], how="vertical_relaxed")
    return both.sort(_T).group_by(entity).agg(*[pl.col(a).drop_nulls().last() for a in attributes])


def version_at(
    facts: pl.DataFrame,
    versions: pl.DataFrame,
    entity: str,
    time: str,
    version_key: str,
) -> pl.DataFrame:
    """``facts`` with ``version_key``: the key of the ``entity`` version valid at ``time``
    (``valid_from <= time < valid_to``); null for facts without an entity."""
    table = versions.select(entity, VALID_FROM, version_key).sort(VALID_FROM)
    rows = facts.with_row_index("__i").sort(time)
    found = rows.join_asof(
        table,
        left_on=time,
        right_on=VALID_FROM,
        by=entity,
        strategy="backward",
        check_sortedness=False,  # sorted by time above; per entity it follows
    )
    return found.sort("__i").drop("__i", VALID_FROM)
