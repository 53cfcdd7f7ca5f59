"""The API's pure parts: query-string filters, cursors, content sniffing, merge patch,
tokens and passwords, the signing-secret policy."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from lakesmith.api.auth import (
    Principal,
    TokenError,
    hash_password,
    issue_token,
    read_token,
    signing_secret,
    verify_password,
)
from lakesmith.api.errors import InvalidError, UnsupportedError
from lakesmith.api.services import querying
from lakesmith.api.services.raw import merge_patch
from lakesmith.api.services.uploads import sniff
from lakesmith.config import load_settings
from lakesmith.config.api import ApiSettings
from lakesmith.core.errors import ConfigError
from lakesmith.stores.gold_repository import Condition, Order

KINDS = {"n": "long", "x": "double", "s": "string", "t": "timestamp", "b": "boolean"}


def test_conditions_are_typed_and_checked() -> None:
    got = querying.conditions(
        [("n__gte", "3"), ("s", "a'b"), ("t__lt", "2026-01-01T00:00:00Z"), ("b", "true"),
         ("n__in", "1,2"), ("s__isnull", "false"), ("limit", "5")],
        KINDS,
    )  # fmt: skip
    assert got == [
        Condition("n", "gte", 3),
        Condition("s", "eq", "a'b"),
        Condition("t", "lt", datetime(2026, 1, 1, tzinfo=UTC)),
        Condition("b", "eq", True),
        Condition("n", "in", [1, 2]),
        Condition("s", "isnull", False),
    ]


@pytest.mark.parametrize(
    "params",
    [[("nope", "1")], [("n", "1; DROP TABLE x")], [("n__like", "1")], [("b", "yes")],
     [("n__in", ",".join(["1"] * 501))], [("t", "yesterday")], [("s", "x" * 1001)]],
)  # fmt: skip
def test_bad_conditions_are_invalid(params: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidError):
        querying.conditions(params, KINDS)


def test_columns_sort_and_cursor() -> None:
    assert querying.columns("s,n,s", list(KINDS)) == ["s", "n"]
    with pytest.raises(InvalidError, match="unknown column"):
        querying.columns("n,pg_sleep(1)", list(KINDS))
    assert querying.ordering("-n,s", list(KINDS), ["x"]) == [
        Order("n", True), Order("s"), Order("x")
    ]  # fmt: skip
    with pytest.raises(InvalidError):
        querying.ordering("n desc", list(KINDS), ["x"])
    assert querying.decode_cursor(querying.encode_cursor(300)) == 300
    assert querying.decode_cursor(None) == 0
    for bad in ("abc", querying.encode_cursor(-1), "eyJvIjogIngifQ"):
        with pytest.raises(InvalidError):
            querying.decode_cursor(bad)


@pytest.mark.parametrize(
    ("head", "fmt"),
    [(b"%PDF-1.7\n...", "pdf"), (b"\xef\xbb\xbf[{\"a\": 1}]", "json"), (b'{"a": 1}', "json"),
     (b'{"a": 1}\n{"a": 2}\n', "jsonl"), (b"a,b\n1,2\n", "csv"), (b"a;b\n1;2", "csv")],
)  # fmt: skip
def test_sniff_reads_the_content(head: bytes, fmt: str) -> None:
    assert sniff(head) == fmt


@pytest.mark.parametrize("head", [b"\x89PNG\r\n\x1a\n\x00", b"\x7fELF\x02\x01\x00", b"plain words"])
def test_sniff_refuses_other_content(head: bytes) -> None:
    with pytest.raises(UnsupportedError):
        sniff(head)


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1]}
    assert merge_patch(target, {"a": None, "b": {"c": 9, "d": None}, "e": [2], "f": "x"}) == {
        "b": {"c": 9}, "e": [2], "f": "x"
    }  # fmt: skip
    assert target["a"] == 1  # not modified in place


def test_tokens_and_passwords() -> None:
    secret = "s" * 40
    who = Principal("ada", "admin")
    assert read_token(secret, issue_token(secret, who, 60)) == who
    with pytest.raises(TokenError, match="expired"):
        read_token(secret, issue_token(secret, who, 60, now=time.time() - 3600))
    with pytest.raises(TokenError, match="invalid"):
        read_token("t" * 40, issue_token(secret, who, 60))
    with pytest.raises(TokenError, match="invalid"):
        read_token(secret, "not.a.token")
    assert who.can("writer") and not Principal("r", "reader").can("writer")
    h = hash_password("pw")
    assert h.startswith("$argon2id$") and verify_password(h, "pw")
    assert not verify_password(h, "PW") and not verify_password(None, "pw")
    assert not verify_password("not-a-hash", "pw")


def test_signing_secret_policy(tmp_path: Path) -> None:
    local = load_settings(state_dir=tmp_path)
    generated = signing_secret(local)  # local stack: generated into the state dir, kept
    assert len(generated) >= 32 and signing_secret(local) == generated
    remote = local.model_copy(
        update={"postgres": local.postgres.model_copy(update={"dsn": SecretStr("postgresql://x")})}
    )
    for weak in (None, "change-me", "short"):
        api = ApiSettings(jwt_secret=SecretStr(weak) if weak else None)
        with pytest.raises(ConfigError, match="jwt_secret"):
            signing_secret(remote.model_copy(update={"api": api}))
    strong = ApiSettings(jwt_secret=SecretStr("k" * 48))
    assert signing_secret(remote.model_copy(update={"api": strong})) == "k" * 48
