"""Index documents from entity frames, vectorised with Polars: one ``devices`` document a
device (its model, manufacturer and site names folded in, and a descriptive text that is
embedded), one ``documents`` document a chunk of a PDF page (pages are split into chunks
of ``search.chunk_words`` words, so each fits the embedding model's 256 tokens).

Ids are the stable entity ids (``device_id``; ``<doc_id>:<page>:<chunk>``), so indexing
again replaces rather than duplicates. ``content_hash`` is a hash of everything indexed
except the embedding: the indexer re-embeds and re-sends only rows whose hash changed
(Polars' row hash, stable within a Polars version; a new version only costs one full
re-upsert)."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

# input columns: the ones a frame lacks are null (only the id and the text are required)
DEVICE_INPUT: Mapping[str, pl.DataType] = {
    "device_id": pl.String(),
    "model": pl.String(),
    "model_name": pl.String(),
    "manufacturer": pl.String(),
    "site": pl.String(),
    "site_name": pl.String(),
    "city": pl.String(),
    "country": pl.String(),
    "status": pl.String(),
    "tags": pl.List(pl.String()),
    "sensor_types": pl.List(pl.String()),
    "install_date": pl.Date(),
    "device_key": pl.Int64(),
    "model_key": pl.Int64(),
    "site_key": pl.Int64(),
    "manufacturer_key": pl.Int64(),
}
PAGE_INPUT: Mapping[str, pl.DataType] = {
    "doc_id": pl.String(),
    "page": pl.Int32(),
    "doc_type": pl.String(),
    "title": pl.String(),
    "text": pl.String(),
    "date": pl.Date(),
    "model": pl.String(),
    "model_name": pl.String(),
    "manufacturer": pl.String(),
    "site": pl.String(),
    "site_name": pl.String(),
    "device_id": pl.String(),
    "document_key": pl.Int64(),
    "device_key": pl.Int64(),
    "model_key": pl.Int64(),
    "site_key": pl.Int64(),
    "manufacturer_key": pl.Int64(),
}
EMBED_TEXT = "embed_text"  # the column the indexer embeds (not sent to Typesense)


def conform_input(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """``frame`` with exactly ``schema``'s columns (missing ones null), cast."""
    return frame.select(
        [
            (pl.col(c) if c in frame.columns else pl.lit(None)).cast(t).alias(c)
            for c, t in schema.items()
        ]
    )


def _epoch(col: str) -> pl.Expr:
    return (pl.col(col).cast(pl.Datetime("ms", "UTC")).dt.epoch("s")).alias("date")


def _hash(exclude: tuple[str, ...] = ("id",)) -> pl.Expr:
    return pl.struct(pl.all().exclude(*exclude)).hash(seed=7).cast(pl.String).alias("content_hash")


def _text(*parts: pl.Expr) -> pl.Expr:
    return pl.concat_str(list(parts), separator=" ", ignore_nulls=True).str.strip_chars()


def _joined(col: str) -> pl.Expr:
    """A list column as ``a, b`` (null when null or empty)."""
    return pl.when(pl.col(col).list.len() > 0).then(pl.col(col).list.join(", "))


def _labelled(label: str, value: pl.Expr) -> pl.Expr:
    """``label value``, null when ``value`` is null or empty."""
    return pl.when(value.str.len_chars() > 0).then(
        pl.concat_str(pl.lit(label), value, separator=" ")
    )


def device_documents(frame: pl.DataFrame) -> pl.DataFrame:
    """``devices`` documents (with ``embed_text``) from a frame of ``DEVICE_INPUT``."""
    d = conform_input(frame, DEVICE_INPUT).filter(pl.col("device_id").is_not_null())
    d = d.unique("device_id", keep="last", maintain_order=True)
    model_label = pl.coalesce("model_name", "model")
    title = _text(model_label, pl.lit("·"), pl.col("device_id")).alias("title")
    description = _text(
        pl.col("status"),
        model_label,
        _labelled("by", pl.col("manufacturer")),
        _labelled("measuring", _joined("sensor_types")),
        _labelled("at", pl.col("site_name")),
        _labelled("in", pl.concat_str("city", "country", separator=", ", ignore_nulls=True)),
        _labelled("tags:", _joined("tags")),
    ).alias("description")
    docs = d.select(
        pl.col("device_id").alias("id"),
        title,
        description,
        *[c for c in DEVICE_INPUT if c not in ("install_date",)],
        _epoch("install_date"),
    )
    docs = docs.with_columns(_hash())
    return docs.with_columns(_text(pl.col("title"), pl.col("description")).alias(EMBED_TEXT))


def page_documents(frame: pl.DataFrame, chunk_words: int) -> pl.DataFrame:
    """``documents`` documents (with ``embed_text``): every page of ``PAGE_INPUT`` split
    into chunks of at most ``chunk_words`` words (an empty page yields no chunk)."""
    p = conform_input(frame, PAGE_INPUT).filter(
        pl.col("doc_id").is_not_null() & pl.col("page").is_not_null()
    )
    p = p.with_columns(
        pl.col("text").fill_null("").str.replace_all(r"\s+", " ").str.strip_chars()
    ).with_columns(
        words=pl.col("text").str.split(" ").list.eval(pl.element().filter(pl.element() != ""))
    )
    n = pl.col("words").list.len()
    p = p.filter(n > 0).with_columns(
        chunk=pl.int_ranges(0, (n + chunk_words - 1) // chunk_words, dtype=pl.Int32)
    )
    p = p.explode("chunk").with_columns(
        pl.col("words")
        .list.slice(pl.col("chunk") * chunk_words, chunk_words)
        .list.join(" ")
        .alias("text")
    )
    docs = p.select(
        pl.format("{}:{}:{}", "doc_id", "page", "chunk").alias("id"),
        pl.coalesce("title", "doc_id").alias("title"),
        *[c for c in PAGE_INPUT if c not in ("title", "date")],
        "chunk",
        _epoch("date"),
    )
    docs = docs.with_columns(_hash())
    return docs.with_columns(_text(pl.col("title"), pl.col("text")).alias(EMBED_TEXT))
