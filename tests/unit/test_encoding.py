"""Text files in other encodings than UTF-8: detection and transcoding as read."""

from __future__ import annotations

import io

import pytest

from lakesmith.formats.encoding import TranscodedInput, canonical, detect_encoding

TEXT = "name;city;amount\nJosé;São Paulo;1,5\nMüller;Köln;2,25 €\n" * 50


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", "utf-8"), ("cp1252", "cp1252"), ("utf-16", "utf-16"), ("utf-16-be", "utf-8")],
)
def test_detect_encoding(encoding: str, expected: str) -> None:
    data = TEXT.encode(encoding)
    if encoding == "utf-16-be":  # no byte-order mark: not recognised, but plain ASCII-ish
        data = b"a,b\n1,2\n"
    assert detect_encoding(data) == expected


def test_utf8_cut_mid_character_is_still_utf8() -> None:
    data = "é".encode() * 10
    assert detect_encoding(data[:-1]) == "utf-8"


def test_bytes_undefined_in_cp1252_fall_back_to_latin1() -> None:
    assert detect_encoding(b"a,b\n\x81,\x8d\n") == "iso8859-1"


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16", "iso8859-1"])
@pytest.mark.parametrize("read_size", [1, 3, 7, 1 << 20])
def test_transcoded_reads_give_the_utf8_text(encoding: str, read_size: int) -> None:
    text = TEXT.replace("€", "") if encoding == "iso8859-1" else TEXT
    stream = TranscodedInput(io.BytesIO(text.encode(encoding)), encoding, read_size=read_size)
    parts = []
    while chunk := stream.read(5):  # small reads: characters split across both sides
        parts.append(chunk)
    assert b"".join(parts) == text.encode()


def test_invalid_bytes_become_replacement_characters() -> None:
    out = TranscodedInput(io.BytesIO(b"ok\x81ok"), "utf-8").read().decode()
    assert out == "ok\ufffdok"
    # UTF-16 without a byte-order mark is read as little-endian; an odd last byte is replaced
    out = TranscodedInput(io.BytesIO("a,b\n".encode("utf-16-le") + b"x"), "utf-16").read()
    assert out.decode() == "a,b\n\ufffd"


def test_canonical_names() -> None:
    assert canonical("latin1") == "iso8859-1" and canonical("UTF8") == "utf-8"
    with pytest.raises(LookupError):
        canonical("klingon")
