"""``[search]``: the Typesense search index (collections, embeddings, hybrid ranking).

Owned by the search work (``lakesmith.search``); fields are added as it grows."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lakesmith.config.fields import Section


class SearchSettings(Section):
    """Search index settings (``LAKESMITH__SEARCH__…``)."""

    # vector and hybrid search need the `embeddings` extra; off: keyword only
    embeddings: bool = True
    # prefix of the collection names and aliases (`<prefix>devices`): several indexes on one
    # Typesense (tests, environments)
    collection_prefix: str = Field("", pattern=r"^[A-Za-z0-9_]*$", max_length=40)
    # hybrid: weight of the vector ranking in reciprocal rank fusion (0: keyword only)
    hybrid_alpha: float = Field(0.5, ge=0.0, le=1.0)
    rrf_k: int = Field(60, ge=1)  # the k of reciprocal rank fusion: 1 / (k + rank)
    # hits each ranking contributes to the fusion (at least the page's depth). Typesense's
    # CPU per hybrid request grows with it: ~17 ms at 20, ~10 ms at 10 (docs/search.md)
    candidates: int = Field(10, ge=1, le=250)
    num_typos: int = Field(2, ge=0, le=2)  # typos a keyword search tolerates per word
    # hybrid: the keyword ranking holds only hits matching every query word (Typesense
    # drop_tokens_threshold 0); partial matches come from the vector ranking. Typesense
    # CPU per hybrid request ~18.6 -> ~14 ms at 100k devices (docs/search.md). Off: the
    # keyword leg also drops words when nothing matches them all (as keyword mode does)
    hybrid_all_words: bool = True
    # result cache: seconds an identical search is answered from the process's cache and
    # Typesense's (use_cache); 0: off. Answers are keyed by the index generation, which
    # every index write changes, so they lag another process's write by at most
    # `generation_check_s` (docs/search.md); a search never seen before costs the same
    cache_ttl_s: int = Field(60, ge=0, le=3600)
    # seconds between two reads of the index generation (a Typesense document the writers
    # replace) by a process with the result cache on; 0: before every search
    generation_check_s: float = Field(1.0, ge=0.0, le=60.0)
    import_batch: int = Field(1000, ge=1)  # documents per Typesense import request
    embed_batch: int = Field(32, ge=1)  # texts per embedding forward pass
    # the embedding's forward pass: ONNX Runtime (a short query ~2.5x cheaper in CPU) or
    # NumPy; auto: ONNX Runtime when installed (the embeddings extra), else NumPy
    embed_backend: Literal["auto", "onnx", "numpy"] = "auto"
    # threads of NumPy's OpenBLAS for the embeddings (0: leave as configured); 1 is 3-5x
    # faster on a busy two-core machine (see search/embeddings.limit_blas_threads)
    blas_threads: int = Field(1, ge=0, le=64)
    chunk_words: int = Field(160, ge=20)  # words per document chunk (a PDF page is split)
    timeout_s: float = Field(10.0, gt=0)  # a search request (the API waits on it)
    # an indexing request (an import of `import_batch` documents with their vectors): on a
    # loaded machine one took over 10 s (bench_search at 100k devices, load average 18)
    index_timeout_s: float = Field(120.0, gt=0)
