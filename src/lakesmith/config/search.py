"""``[search]``: the Typesense search index (collections, embeddings, hybrid ranking).

Owned by the search work (``lakesmith.search``); fields are added as it grows."""

from __future__ import annotations

from lakesmith.config.fields import Section


class SearchSettings(Section):
    """Search index settings (``LAKESMITH__SEARCH__…``)."""

    embeddings: bool = True
