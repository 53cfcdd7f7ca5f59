"""Text files that are not UTF-8 (``payload.encoding``): exports from Excel and older
systems come as Windows-1252 / Latin-1 or, for Excel's "Unicode text", UTF-16.

Every decoder reads UTF-8, so such a file is transcoded as it is read (``TranscodedInput``)
before it is split into records: bronze keeps each record as UTF-8 text, and records are
counted in the transcoded text (a resumed ingest reads the file from its start and skips
the committed rows, as for gzip). ``detect_encoding`` is what ``ingest`` infers when no
contract says: a UTF-16 byte-order mark, else UTF-8 when the head of the file decodes as
UTF-8, else Windows-1252 (Latin-1 where a byte is undefined in Windows-1252).
"""

from __future__ import annotations

import codecs
import io
from typing import BinaryIO, cast

UTF8 = "utf-8"
HEAD_BYTES = 1 << 20  # the head of a file that detection looks at


def canonical(name: str) -> str:
    """The codec's canonical name (``latin1`` → ``iso8859-1``, ``UTF8`` → ``utf-8``);
    ``LookupError`` for an unknown encoding."""
    return codecs.lookup(name).name


def detect_encoding(head: bytes) -> str:
    """The encoding of a text file that starts with ``head`` (see the module doc)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:  # a multi-byte character cut at the end of the head is still UTF-8
        codecs.getincrementaldecoder(UTF8)().decode(head, final=False)
        return UTF8
    except UnicodeDecodeError:
        pass
    try:
        head.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "iso8859-1"


def transcoded(stream: BinaryIO, encoding: str) -> BinaryIO:
    """``stream`` as UTF-8: itself when ``encoding`` is UTF-8, else a ``TranscodedInput``."""
    if canonical(encoding) == UTF8:
        return stream
    return cast("BinaryIO", TranscodedInput(stream, encoding))


class TranscodedInput(io.RawIOBase):
    """``raw`` read in ``encoding`` and handed on as UTF-8 (memory: one read of ``raw``).
    Bytes that are invalid in ``encoding`` become U+FFFD (the row still arrives, and the
    rules see the replacement character)."""

    def __init__(self, raw: BinaryIO, encoding: str, read_size: int = 1 << 20) -> None:
        self.raw = raw
        self._encoding = canonical(encoding)
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._read_size = read_size
        self._pending = bytearray()  # transcoded text; handed out up to _pos
        self._pos = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def _fill(self, want: int) -> None:
        while not self._eof and len(self._pending) - self._pos < want:
            data = self.raw.read(self._read_size)
            self._eof = not data
            try:
                text = self._decoder.decode(data or b"", final=self._eof)
            except UnicodeDecodeError:
                raise
            except UnicodeError:  # utf-16/32 without a byte-order mark: little-endian,
                # as Windows writes it (raised before the decoder consumed anything)
                self._decoder = codecs.getincrementaldecoder(f"{self._encoding}-le")(
                    errors="replace"
                )
                text = self._decoder.decode(data or b"", final=self._eof)
            if self._pos:  # drop what was handed out before appending (no quadratic copies)
                del self._pending[: self._pos]
                self._pos = 0
            self._pending += text.encode(UTF8)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            self._fill(1 << 62)
            size = len(self._pending) - self._pos
        else:
            self._fill(size)
        out = bytes(self._pending[self._pos : self._pos + size])
        self._pos += len(out)
        return out

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()
