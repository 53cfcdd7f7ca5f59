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
        (
            "LAKESMITH__LOCAL__POSTGRS_PORT",
            "1",
            "unknown setting LAKESMITH__LOCAL__POSTGRS_PORT "
            "(did you mean LAKESMITH__LOCAL__POSTGRES_PORT?)",
        ),
        (
            "LAKESMITH__WORKER__DEDUPE_WINDOW",
            "two days",
            "worker.dedupe_window = 'two days': expected a duration: 30s, 5m, 2h or 7d",
        ),
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


# -- typos are errors, with the closest valid name --------------------------------------


@pytest.mark.parametrize(
    ("var", "meant"),
    [
        ("LAKESMITH__POSTGRESS__DSN", "LAKESMITH__POSTGRES__DSN"),  # section typo
        ("LAKESMITH__POSTGRES_DSN", "LAKESMITH__POSTGRES__DSN"),  # one underscore
        ("LAKESMITH__WORKER__BATCHSIZE", "LAKESMITH__WORKER__BATCH_SIZE"),  # key typo
        ("LAKESMITH__STATEDIR", "LAKESMITH__STATE_DIR"),
        ("LAKESMITH__KAFKA__EXTRAS__sasl.mechanism", "LAKESMITH__KAFKA__EXTRA__SASL.MECHANISM"),
    ],
)
def test_unknown_env_setting_is_one_line_with_suggestion(
    monkeypatch: pytest.MonkeyPatch, var: str, meant: str
) -> None:
    monkeypatch.setenv(var, "1")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.message == f"unknown setting {var} (did you mean {meant}?)"


def test_unknown_env_setting_without_a_close_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKESMITH__ZZZ", "1")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.message == "unknown setting LAKESMITH__ZZZ"


def test_lakesmiths_own_variables_and_dict_settings_are_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LAKESMITH_FAULT_KILL_AFTER", "3")  # single underscore: not a setting
    monkeypatch.setenv("LAKESMITH__KAFKA__EXTRA", '{"security.protocol": "SSL"}')
    s = load_settings()
    assert s.kafka.extra == {"security.protocol": "SSL"}
    monkeypatch.delenv("LAKESMITH__KAFKA__EXTRA")
    monkeypatch.setenv("LAKESMITH__KAFKA__EXTRA__sasl.mechanism", "PLAIN")
    assert load_settings().kafka.extra == {"sasl.mechanism": "PLAIN"}


def test_every_problem_is_reported_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKESMITH__POSTGRESS__DSN", "x")
    monkeypatch.setenv("LAKESMITH__LOCAL__HOST__X", "1")  # unknown: no second error for it
    monkeypatch.setenv("LAKESMITH__LOCAL__KAFKA_PORT", "abc")
    with pytest.raises(ConfigError) as err:
        load_settings()
    head, *lines = err.value.message.splitlines()
    assert head == "3 configuration problems:"
    assert [line.split(" (")[0].strip() for line in lines] == [
        "unknown setting LAKESMITH__LOCAL__HOST__X",
        "unknown setting LAKESMITH__POSTGRESS__DSN",
        "invalid setting local.kafka_port = 'abc': Input should be a valid integer, "
        "unable to parse string as an integer",
    ]


def _toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    toml = tmp_path / "lakesmith.toml"
    toml.write_text(text)
    monkeypatch.setenv("LAKESMITH_CONFIG", str(toml))
    return toml


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[postgress]\ndsn = "x"\n', "unknown setting postgress ({}; did you mean postgres?)"),
        (
            "[worker]\nbatchsize = 3\n",
            "unknown setting worker.batchsize ({}; did you mean worker.batch_size?)",
        ),
        ('postgres_dsn = "x"\n', "unknown setting postgres_dsn ({}; did you mean postgres.dsn?)"),
    ],
)
def test_unknown_toml_key_names_file_and_suggests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    toml = _toml(tmp_path, monkeypatch, text)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.message == expected.format(f"from {toml}")


def test_missing_config_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAKESMITH_CONFIG", str(tmp_path / "lakesmith.toml"))
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.message == f"LAKESMITH_CONFIG={tmp_path / 'lakesmith.toml'}: does not exist"
    assert err.value.hint is not None and "LAKESMITH_CONFIG=none" in err.value.hint
    monkeypatch.setenv("LAKESMITH_CONFIG", str(tmp_path))
    with pytest.raises(ConfigError, match="is not a file"):
        load_settings()


@pytest.mark.parametrize("value", ["none", "NONE", "None", "", " "])
def test_config_none_reads_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    (tmp_path / "lakesmith.toml").write_text("[worker]\nbatchsize = 3\n")  # would fail
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAKESMITH_CONFIG", value)
    assert load_settings().worker.batch_size == 100_000


def test_secret_values_are_never_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = '[kafka.extra]\n"sasl.password" = 987654321\n[typesense]\napi_key = 13572468\n'
    _toml(tmp_path, monkeypatch, text)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "invalid setting kafka.extra.sasl.password: Input should be a valid string" in str(
        err.value
    )
    assert "invalid setting typesense.api_key: Input should be a valid string" in str(err.value)
    assert "987654321" not in str(err.value) and "13572468" not in str(err.value)


# -- values that are parsed later are checked at load -----------------------------------


@pytest.mark.parametrize("window", ["two days", "2 days", "1w", "", "7"])
def test_bad_dedupe_window(monkeypatch: pytest.MonkeyPatch, window: str) -> None:
    monkeypatch.setenv("LAKESMITH__WORKER__DEDUPE_WINDOW", window)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.message == (
        f"invalid setting worker.dedupe_window = {window!r}: expected a duration: "
        "30s, 5m, 2h or 7d (from LAKESMITH__WORKER__DEDUPE_WINDOW)"
    )


@pytest.mark.parametrize("window", ["90s", "5m", "2h", "7d"])
def test_good_dedupe_window(monkeypatch: pytest.MonkeyPatch, window: str) -> None:
    monkeypatch.setenv("LAKESMITH__WORKER__DEDUPE_WINDOW", window)
    assert load_settings().worker.dedupe_window == window


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("KAFKA__BOOTSTRAP_SERVERS", "http://k1:9092", "expected host:port[,host:port]"),
        ("KAFKA__BOOTSTRAP_SERVERS", "k1", "expected host:port[,host:port]"),
        ("KAFKA__BOOTSTRAP_SERVERS", "k1:70000", "expected host:port[,host:port]"),
        ("KAFKA__BOOTSTRAP_SERVERS", "k1:9092,", "'' is not host:port"),
        ("KAFKA__BOOTSTRAP_SERVERS", "k1:9092,k2", "'k2' is not host:port"),
        ("TYPESENSE__URL", "localhost:8108", "expected an http(s)://host[:port] URL"),
        ("TYPESENSE__URL", "ftp://ts:8108", "expected an http(s)://host[:port] URL"),
        ("S3__ENDPOINT_URL", "minio:9000", "expected an http(s)://host[:port] URL"),
        ("S3__ENDPOINT_URL", "http://minio:port", "expected an http(s)://host[:port] URL"),
        ("LAKE__WAREHOUSE", "gs://bucket/wh", "expected a folder, file:///absolute/path or s3"),
        ("LAKE__WAREHOUSE", "s3://", "expected a folder, file:///absolute/path or s3"),
        ("LAKE__WAREHOUSE", "file://relative/wh", "expected a folder, file:///absolute/path"),
        ("LAKE__WAREHOUSE", "", "expected a folder, file:///absolute/path or s3"),
        ("LAKE__CATALOG_URI", "catalog.db", "expected a SQLAlchemy URI"),
        ("LOCAL__KAFKA_STORAGE", "tansu", "expected a storage URL"),
    ],
)
def test_bad_url(monkeypatch: pytest.MonkeyPatch, var: str, value: str, expected: str) -> None:
    monkeypatch.setenv("LAKESMITH__" + var, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    key = var.lower().replace("__", ".")
    assert err.value.message.startswith(f"invalid setting {key} = {value!r}: {expected}")
    assert err.value.message.endswith(f"(from LAKESMITH__{var})")
    assert "\n" not in err.value.message


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("KAFKA__BOOTSTRAP_SERVERS", "k1:9092"),
        ("KAFKA__BOOTSTRAP_SERVERS", "k1:9092, k2.example.com:9093,SSL://10.0.0.1:9094,[::1]:9"),
        ("TYPESENSE__URL", "https://search.example.com"),
        ("TYPESENSE__URL", "http://127.0.0.1:8108/"),
        ("S3__ENDPOINT_URL", "http://minio:9000"),
        ("LAKE__WAREHOUSE", "s3://bucket/prefix"),
        ("LAKE__WAREHOUSE", "file:///srv/warehouse"),
        ("LAKE__WAREHOUSE", "relative/folder"),
        ("LAKE__CATALOG_URI", "postgresql+psycopg://u:p@db:5432/cat"),
        ("LOCAL__KAFKA_STORAGE", "s3://tansu/"),
    ],
)
def test_good_url(monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    monkeypatch.setenv("LAKESMITH__" + var, value)
    load_settings()


def test_kafka_transport_errors_are_transient() -> None:
    """confluent-kafka's exceptions come from its C module ("cimpl"): still recognised."""
    from confluent_kafka import KafkaError, KafkaException

    from lakesmith.core.transient import transient

    down = KafkaException(KafkaError(KafkaError._TRANSPORT, "Broker transport failure"))
    assert transient(down)
    assert not transient(KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)))
    assert transient(ConnectionRefusedError()) and not transient(ValueError("bad value"))
