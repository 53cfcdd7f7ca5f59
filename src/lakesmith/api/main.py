"""The ASGI app of ``lakesmith serve`` (``uvicorn lakesmith.api.main:app``): settings from
the environment and lakesmith.toml; its start-up heap frozen (``create_app``)."""

from __future__ import annotations

from lakesmith.api.app import create_app
from lakesmith.config import load_settings

app = create_app(load_settings(), freeze_heap=True)
