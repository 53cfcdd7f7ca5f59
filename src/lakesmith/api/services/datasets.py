"""The datasets the API knows: the built-in domains' contracts and the contracts stored
by ``lakesmith ingest`` (and uploads) in the state dir."""

from __future__ import annotations

from lakesmith.api.errors import NotFoundError
from lakesmith.config import Settings
from lakesmith.contracts.model import Contract


def known_contracts(settings: Settings) -> dict[str, Contract]:
    from lakesmith.contracts.loader import known_contracts as known

    return known(settings.state_dir)


def find_contract(settings: Settings, name: str) -> Contract:
    contracts = known_contracts(settings)
    if name not in contracts:
        raise NotFoundError(
            f"no dataset {name!r}; known: {', '.join(sorted(contracts)) or 'none'} "
            "(upload a file to create one)"
        )
    return contracts[name]
