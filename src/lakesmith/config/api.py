"""``[api]``: the REST API (``lakesmith serve``): where it listens, its users and secrets.

Owned by the API work (``lakesmith.api``); fields are added as the API grows."""

from __future__ import annotations

from lakesmith.config.fields import Section


class ApiSettings(Section):
    """The REST API's settings (``LAKESMITH__API__…``)."""

    host: str = "127.0.0.1"
    port: int = 8000
