"""The source interface: what the runner needs from any source kind.

A source module (``sources/<kind>.py``) defines two things and is registered by kind in
``sources.registry``:

- ``SPEC``: a ``SourceSpec`` subclass, the contract's ``source:`` section for this kind;
- ``SOURCE``: a class built as ``SOURCE(context)`` that implements ``Source``.

The runner never sees partitions, files or cursors: it polls ``RawBatch``es, writes them
to the sinks with ``batch.next_positions()``, then calls ``committed``. Where to start is
the source's question to ask: ``context.resume(streams)`` returns the lowest position
committed over all sinks for those streams (absent = start of the stream), and the
source must deliver every record at or after it, with the same ``seq`` as before.
See docs/adding-a-source.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from lakesmith.core.positions import Positions
from lakesmith.core.records import RawBatch

if TYPE_CHECKING:
    from lakesmith.config import Settings
    from lakesmith.contracts.model import Contract


@dataclass(frozen=True)
class SourceContext:
    settings: Settings
    contract: Contract
    group_id: str  # workers sharing this id share the source (consumer group, claims)
    # where to (re)start streams: the lowest position over all sinks (primes dedupe too)
    resume: Callable[[Sequence[str]], Positions]
    # the lowest position over all sinks, read only (for ``drained``); defaults to resume
    committed: Callable[[Sequence[str]], Positions] | None = None

    def committed_positions(self, streams: Sequence[str]) -> Positions:
        return (self.committed or self.resume)(streams)


class Source(Protocol):
    busy_s: float  # seconds the last poll spent receiving data (idle waits excluded)

    def poll(self, max_records: int, max_wait_s: float) -> RawBatch:
        """Up to ``max_records`` records, waiting at most ``max_wait_s``; may be empty."""
        ...

    def committed(self, positions: Positions) -> None:
        """The sinks committed a batch up to ``positions`` (a hint: group offsets, ledgers)."""
        ...

    def drained(self) -> bool:
        """True when everything available right now has been delivered by ``poll`` and
        committed by the sinks — for the whole source, not only this worker's share
        (``run --until-idle`` stops once this holds for ``idle_timeout_s``). Raises
        ``SourceError`` when it can never become true for this worker (e.g. no share of
        the source assigned while data waits)."""
        ...

    def lag(self) -> dict[str, int]:
        """Records known to be waiting, per stream (metrics; empty when unknown)."""
        ...

    def close(self) -> None: ...
