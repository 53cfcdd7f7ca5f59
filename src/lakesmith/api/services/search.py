"""Search over the Typesense index, through the search repository
(``stores.search.SearchRepository``): the REST route and GraphQL both call this."""

from __future__ import annotations

import threading
from typing import Any

from lakesmith.api.errors import InvalidError, UnavailableError
from lakesmith.config import Settings
from lakesmith.core.errors import validation_problems


class SearchService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._repo: Any = None
        self._lock = threading.Lock()

    def _repository(self) -> Any:
        with self._lock:
            if self._repo is None:
                from lakesmith.stores.search import SearchRepository

                self._repo = SearchRepository(self.settings)
            return self._repo

    def search(self, **params: Any) -> Any:
        """A ``SearchResult`` for the query parameters (``q``, ``mode``, filters)."""
        from pydantic import ValidationError

        from lakesmith.search.types import EmbeddingsUnavailableError, SearchError, SearchQuery

        try:
            query = SearchQuery(**{k: v for k, v in params.items() if v is not None})
        except ValidationError as exc:
            raise InvalidError(validation_problems(exc, whole="query")) from None
        try:
            return self._repository().search(query)
        except EmbeddingsUnavailableError as exc:
            raise InvalidError(exc.message) from None
        except SearchError as exc:
            raise UnavailableError(f"search failed: {exc.message}") from None

    def ping(self) -> None:
        from lakesmith.core.errors import ServiceUnavailableError
        from lakesmith.stores.search import typesense_health

        try:
            typesense_health(self.settings)
        except ServiceUnavailableError as exc:
            raise UnavailableError(exc.message) from None
