"""Environment variables in contract YAML: ``${NAME}``, ``${NAME:-default}``, ``$${``."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakesmith.contracts.loader import expand_env, load_contract_file
from lakesmith.core.errors import ContractError


def test_set_unset_default_and_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LS_BUCKET", "prod-landing")
    monkeypatch.delenv("LS_PREFIX", raising=False)
    monkeypatch.setenv("LS_EMPTY", "")
    data = {
        "bucket": "${LS_BUCKET}",
        "prefix": "${LS_PREFIX:-events/}",
        "empty": "${LS_EMPTY:-fallback}",
        "both": "s3://${LS_BUCKET}/${LS_PREFIX:-raw}",
        "literal": "$${LS_BUCKET}",
        "list": ["${LS_BUCKET}", 3, None, True],
        "number": 6,
    }
    assert expand_env(data, "x.yaml") == {
        "bucket": "prod-landing",
        "prefix": "events/",
        "empty": "fallback",
        "both": "s3://prod-landing/raw",
        "literal": "${LS_BUCKET}",
        "list": ["prod-landing", 3, None, True],
        "number": 6,
    }


def test_unset_without_default_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LS_NOT_SET", raising=False)
    with pytest.raises(ContractError, match=r"uses \$\{LS_NOT_SET\}, which is not set") as err:
        expand_env({"source": {"bucket": "${LS_NOT_SET}"}}, "music.yaml")
    assert err.value.hint is not None and "${LS_NOT_SET:-value}" in err.value.hint


def test_a_contract_file_takes_its_bucket_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakesmith.contracts.loader import DOMAINS_DIR

    text = (DOMAINS_DIR / "music" / "events.yaml").read_text()
    assert "${LAKESMITH_LANDING_BUCKET:-lakesmith-landing}" in text
    path = tmp_path / "events.yaml"
    path.write_text(text)
    monkeypatch.delenv("LAKESMITH_LANDING_BUCKET", raising=False)
    assert load_contract_file(path).source.bucket == "lakesmith-landing"  # type: ignore[union-attr]
    monkeypatch.setenv("LAKESMITH_LANDING_BUCKET", "acme-prod-landing")
    assert load_contract_file(path).source.bucket == "acme-prod-landing"  # type: ignore[union-attr]
