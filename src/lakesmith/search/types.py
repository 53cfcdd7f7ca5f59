"""The search request and answer (domain types shared by the repository, the API and the
CLI). Filter values are validated here: a value the index cannot match literally (a
backtick, which Typesense's quoted filter values cannot escape, or a control character)
is refused with a ``ValueError`` — the API turns the validation error into a 422."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lakesmith.core.errors import LakesmithError

SearchMode = Literal["keyword", "vector", "hybrid"]
CollectionName = Literal["devices", "documents"]
COLLECTIONS: tuple[CollectionName, ...] = ("devices", "documents")
FILTER_MAX_CHARS = 200
MAX_DEPTH = 250  # hits a page may reach into (Typesense returns at most 250 per request)


class SearchError(LakesmithError):
    """A search the index could not answer (bad request or index problem)."""


class EmbeddingsUnavailableError(SearchError):
    """Vector search was asked for but the ``embeddings`` extra is not installed (or
    ``search.embeddings`` is off). The API maps it to 422 for ``mode=vector``; ``hybrid``
    falls back to keyword with a warning instead of raising."""


class SearchQuery(BaseModel):
    """One search: the text, the mode and the filters (all optional, ANDed).

    ``site`` and ``model`` match the id or the name; ``doc_type`` restricts the search to
    documents of that type (devices have none); ``date_from``/``date_to`` (inclusive)
    apply to a document's date and a device's install date."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    q: str = Field(min_length=1, max_length=1000)
    mode: SearchMode = "hybrid"
    collections: tuple[CollectionName, ...] = COLLECTIONS
    site: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    doc_type: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    limit: int = Field(10, ge=1, le=100)
    page: int = Field(1, ge=1, le=100)

    @field_validator("site", "manufacturer", "model", "doc_type")
    @classmethod
    def _literal_value(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("a filter value must not be empty")
        if len(value) > FILTER_MAX_CHARS:
            raise ValueError(f"a filter value has at most {FILTER_MAX_CHARS} characters")
        if "`" in value:
            raise ValueError("a filter value must not contain a backtick (`)")
        if any(ord(c) < 32 for c in value):
            raise ValueError("a filter value must not contain control characters")
        return value

    @field_validator("collections")
    @classmethod
    def _some_collection(cls, value: tuple[CollectionName, ...]) -> tuple[CollectionName, ...]:
        if not value:
            raise ValueError("name at least one collection (devices, documents)")
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _date_order(self) -> SearchQuery:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from is after date_to")
        if self.page * self.limit > MAX_DEPTH:
            raise ValueError(f"page * limit must be at most {MAX_DEPTH}")
        return self


class SearchHit(BaseModel):
    """One hit: a device or a document chunk (a PDF page or part of one), with the keys
    of the warehouse entities it belongs to (None when unknown, e.g. a datasheet of a
    model the fleet does not use)."""

    collection: CollectionName
    id: str
    title: str
    snippet: str
    score: float
    device_key: int | None = None
    model_key: int | None = None
    site_key: int | None = None
    manufacturer_key: int | None = None
    document_key: int | None = None
    device_id: str | None = None
    model: str | None = None
    manufacturer: str | None = None
    site: str | None = None
    doc_id: str | None = None
    doc_type: str | None = None
    page: int | None = None
    date: dt.date | None = None


class SearchResult(BaseModel):
    """The hits of one page, best first. ``mode`` is the mode that ran (``keyword`` when
    a hybrid search fell back, with the reason in ``warnings``); ``found`` is the number
    of matches per collection as Typesense counts them (for vector/hybrid: candidates)."""

    mode: SearchMode
    hits: list[SearchHit]
    found: dict[str, int]
    took_ms: float
    warnings: list[str] = Field(default_factory=list)
