"""``stores.search_http.MultiSearchHttp``: one kept-alive connection per thread, reopened
when the server closed it, and an unreachable Typesense is a ``SearchError`` (the API's
503), not an unhandled exception."""

from __future__ import annotations

import pytest

from lakesmith.config import Settings
from lakesmith.search.types import SearchError
from lakesmith.stores.search_http import MultiSearchHttp
from lakesmith.testing import free_ports

pytestmark = pytest.mark.integration

BODY = {"searches": [{"collection": "no_such_collection_xyz", "q": "*"}]}


def test_the_connection_is_kept_and_reopened_when_closed(stack_settings: Settings) -> None:
    client = MultiSearchHttp(stack_settings, timeout_s=5)
    first = client.perform(BODY, {"use_cache": "false"})
    assert "error" in first["results"][0]  # Typesense's own per-search error, passed on
    conn = client._local.conn
    client.perform(BODY, {})
    assert client._local.conn is conn  # kept alive
    assert conn.sock is not None
    conn.sock.close()  # as if the server had dropped the idle connection
    again = client.perform(BODY, {})
    assert "error" in again["results"][0] and client._local.conn is not conn


def test_an_unreachable_server_is_a_search_error(stack_settings: Settings) -> None:
    (port,) = free_ports(1)
    dead = stack_settings.model_copy(
        update={"local": stack_settings.local.model_copy(update={"typesense_port": port})}
    )
    with pytest.raises(SearchError, match="not reachable"):
        MultiSearchHttp(dead, timeout_s=2).perform(BODY, {})
