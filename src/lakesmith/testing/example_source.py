"""A complete, tiny source kind: ``memory`` (records handed over in a Python list).

It is the example of docs/adding-a-source.md and is used by a test that runs it through
the real worker. One stream per source (``memory://<name>``); seq = index in the list.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from lakesmith.contracts.model import SourceSpec
from lakesmith.core.positions import Position, Positions
from lakesmith.core.records import RawBatch
from lakesmith.sources.base import SourceContext


class MemorySpec(SourceSpec):
    """``source: {kind: memory, name: demo}``"""

    kind: Literal["memory"] = "memory"
    name: str

    @property
    def uri(self) -> str:
        return f"memory://{self.name}"

    @property
    def uri_sep(self) -> str:
        return "#"


class MemorySource:
    """Delivers ``MemorySource.data[name]`` from the position the sinks committed."""

    data: ClassVar[dict[str, list[bytes]]] = {}  # what a test puts "into the source"

    def __init__(self, context: SourceContext) -> None:
        spec = context.contract.source
        assert isinstance(spec, MemorySpec)
        self.stream = spec.uri
        self.records = self.data.get(spec.name, [])
        # ask once where to start: the lowest position committed over all sinks
        start = context.resume([self.stream]).get(self.stream, Position(0))
        self.next = start.next
        self.busy_s = 0.0

    def poll(self, max_records: int, max_wait_s: float) -> RawBatch:
        batch = RawBatch(source=self.stream, uri_sep="#")
        end = min(self.next + max_records, len(self.records))
        if end > self.next:
            seqs = list(range(self.next, end))
            batch.extend(self.stream, seqs, list(self.records[self.next : end]))
            self.next = end
        return batch

    def committed(self, positions: Positions) -> None:
        pass  # nothing to acknowledge: the sinks hold the positions

    def drained(self) -> bool:
        return self.next >= len(self.records)

    def lag(self) -> dict[str, int]:
        return {self.stream: len(self.records) - self.next}

    def close(self) -> None:
        pass


SPEC = MemorySpec
SOURCE = MemorySource
