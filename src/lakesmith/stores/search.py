"""Typesense client for the search index."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import typesense

from lakesmith.config import Settings


def typesense_client(settings: Settings, timeout_s: float = 10.0) -> Any:
    """A ``typesense.Client`` for the configured node (the local server when unset)."""
    url = urlsplit(settings.effective_typesense_url())
    default_port = 443 if url.scheme == "https" else 8108
    config: Any = {
        "api_key": settings.effective_typesense_api_key(),
        "nodes": [{"host": url.hostname, "port": url.port or default_port, "protocol": url.scheme}],
        "connection_timeout_seconds": timeout_s,
    }
    return typesense.Client(config)
