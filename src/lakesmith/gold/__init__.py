"""The gold layer: star schemas built incrementally from a dataset's validated silver rows.

A contract names its gold model (``gold: {model: music}``); ``gold.registry`` imports the
model lazily. A model (``gold.model.GoldModel``) lists its tables in dependency order and
computes, per table and batch, the ``Change`` to commit against the current state of the
store (the lake or the PostgreSQL warehouse) — with Polars, no SQL. The generic pieces:
``keys`` (stable surrogate keys), ``calendar`` (``dim_date`` and ``dim_time_of_day``),
``scd2`` (slowly changing dimensions, type 2, late events included) and ``sinks`` (the
lake and warehouse sinks ``pipeline.sinks.build_sinks`` adds).
"""
