"""The served app's start-up: its long-lived heap is frozen out of the collector's work."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi.testclient import TestClient

from lakesmith.api.app import create_app
from lakesmith.config import load_settings


def test_the_served_app_freezes_its_start_up_heap(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    gc.unfreeze()
    try:
        with TestClient(create_app(settings, prepare=False)) as client:
            assert client.get("/healthz").status_code == 200
            assert gc.get_freeze_count() == 0  # tests build many apps: nothing frozen
        with TestClient(create_app(settings, prepare=False, freeze_heap=True)) as client:
            frozen = gc.get_freeze_count()
            assert frozen > 10_000  # the modules, the app and its routes
            assert client.get("/healthz").status_code == 200
            young = gc.get_count()[0] + gc.get_count()[1]
            assert young < frozen  # what runs after start-up is tracked as before
    finally:
        gc.unfreeze()
