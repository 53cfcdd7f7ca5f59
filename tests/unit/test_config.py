from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lakesmith.config import load_settings
from lakesmith.core.errors import ConfigError
from lakesmith.core.secrets import get_or_create_secret


def test_defaults_point_at_the_local_stack(tmp_path: Path) -> None:
    s = load_settings(state_dir=tmp_path)
    assert s.effective_kafka_bootstrap() == "127.0.0.1:19092"
    assert s.effective_typesense_url() == "http://127.0.0.1:18108"
    dsn = s.effective_postgres_dsn()
    assert dsn.startswith("postgresql://lakesmith:") and dsn.endswith("@127.0.0.1:54329/lakesmith")
    assert s.effective_catalog_uri() == f"sqlite:///{tmp_path.resolve()}/catalog.db"


def test_env_overrides_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "lakesmith.toml"
    toml.write_text(
        "[local]\nkafka_port = 29092\npostgres_port = 6000\n"
        '[kafka]\nbootstrap_servers = "k1:9092"\n'
    )
    monkeypatch.setenv("LAKESMITH_CONFIG", str(toml))
    monkeypatch.setenv("LAKESMITH__LOCAL__POSTGRES_PORT", "7000")
    s = load_settings()
    assert s.local.kafka_port == 29092
    assert s.local.postgres_port == 7000
    assert s.effective_kafka_bootstrap() == "k1:9092"


def test_external_urls_win_over_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKESMITH__POSTGRES__DSN", "postgresql://u:p@db.example:5432/x")
    monkeypatch.setenv("LAKESMITH__TYPESENSE__API_KEY", "from-env")
    s = load_settings(state_dir=tmp_path)
    assert s.effective_postgres_dsn() == "postgresql://u:p@db.example:5432/x"
    assert s.effective_typesense_api_key() == "from-env"
    assert not (tmp_path / "secrets").exists(), "no secret generated when one is configured"


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("LAKESMITH__LOCAL__POSTGRES_PORT", "abc", "local.postgres_port = 'abc'"),
        (
            "LAKESMITH__LOCAL__KAFKA_PORT",
            "70000",
            "local.kafka_port = '70000': Input should be less than or equal to 65535",
        ),
        ("LAKESMITH__LOG_LEVEL", "LOUD", "log_level = 'LOUD'"),
        ("LAKESMITH__LOCAL__POSTGRS_PORT", "1", "local.postgrs_port"),
    ],
)
def test_invalid_value_names_key_and_env_var(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert expected in str(err.value)
    assert var in str(err.value)


def test_malformed_toml_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "lakesmith.toml"
    toml.write_text("[local\nport = ")
    monkeypatch.setenv("LAKESMITH_CONFIG", str(toml))
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_settings()


def test_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    a = get_or_create_secret(tmp_path, "typesense_api_key")
    b = get_or_create_secret(tmp_path, "typesense_api_key")
    assert a == b and len(a) >= 24
    mode = stat.S_IMODE((tmp_path / "secrets" / "typesense_api_key").stat().st_mode)
    assert mode == 0o600
    assert get_or_create_secret(tmp_path, "other") != a
