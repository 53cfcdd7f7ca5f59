"""Gold models by name (``gold.model`` in a contract), imported only when used."""

from __future__ import annotations

import importlib

from lakesmith.core.errors import ContractError
from lakesmith.gold.model import GoldModel

# model name → module exposing ``MODEL``
_MODELS: dict[str, str] = {
    "music": "lakesmith.domains.music.gold",
}


def register_model(name: str, module: str) -> None:
    """Register (or replace) the module whose ``MODEL`` is the gold model ``name``."""
    _MODELS[name] = module


def known_models() -> list[str]:
    return sorted(_MODELS)


def load_model(name: str) -> GoldModel:
    if name not in _MODELS:
        raise ContractError(
            f"unknown gold model {name!r}", hint=f"use one of: {', '.join(known_models())}"
        )
    model: GoldModel = importlib.import_module(_MODELS[name]).MODEL
    return model
