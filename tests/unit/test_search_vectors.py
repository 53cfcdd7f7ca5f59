"""Embeddings are stored and queried as integers (unit vector x EMBEDDING_SCALE, rounded):
cosine to the float vector stays above 0.99999, rows are normalised first, and the query
literal uses the same form."""

from __future__ import annotations

import numpy as np

from lakesmith.search.query_batch import vector_literal
from lakesmith.stores.search_schema import EMBEDDING_DIM, EMBEDDING_SCALE, stored_vectors


def unit(rows: int, seed: int = 3) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((rows, EMBEDDING_DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_stored_vectors_are_integers_close_to_the_floats() -> None:
    floats = unit(50)
    stored = stored_vectors(floats * 7.5)  # any length: each row is normalised first
    assert str(stored.dtype) == "List(Int16)"
    ints = np.array(stored.to_list(), dtype=np.float64)
    assert np.abs(ints).max() <= EMBEDDING_SCALE
    cosine = (ints * floats).sum(axis=1) / np.linalg.norm(ints, axis=1)
    assert cosine.min() > 0.99999
    assert np.abs(ints / EMBEDDING_SCALE - floats).max() <= 0.5 / EMBEDDING_SCALE + 1e-6


def test_the_query_literal_is_the_same_integer_form() -> None:
    vector = unit(1)[0]
    literal = vector_literal(vector)
    values = [int(x) for x in literal.split(",")]  # integers only
    assert values == stored_vectors(vector[None, :])[0].to_list()
