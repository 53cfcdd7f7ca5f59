"""The lakesmith exception tree.

Every error a user can cause or fix is a ``LakesmithError``; the CLI prints its
message (and ``hint``) and exits non-zero, never with a traceback::

    LakesmithError
    ├── ConfigError              invalid lakesmith.toml / LAKESMITH__… value
    ├── ContractError            a dataset contract is unknown or invalid
    ├── SinkError                a store rejected a write (after retries)
    ├── SourceError              a source cannot deliver what it holds
    ├── InputError               an input file or object cannot be read
    ├── ServiceUnavailableError  a service (PostgreSQL, …) is unreachable or refuses us
    └── LocalStackError          the no-Docker local stack
        ├── MissingBinaryError     a service binary is not installed
        ├── PortInUseError         the configured port is taken by another process
        └── ServiceStartError      a service exited or never became healthy
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class LakesmithError(Exception):
    """Base class: an error with a message meant for the user and an optional fix."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n  fix: {self.hint}"


class ConfigError(LakesmithError):
    """The configuration is invalid; the message names the key and the expected form."""


class ContractError(LakesmithError):
    """A dataset contract cannot be found or is invalid."""


class SinkError(LakesmithError):
    """A store rejected a write after retries."""


class SourceError(LakesmithError):
    """A source cannot deliver what it holds (no partitions assigned, topic missing, …)."""


class InputError(LakesmithError):
    """An input file or object cannot be opened or read (the message names it and why)."""


class ServiceUnavailableError(LakesmithError):
    """A service lakesmith needs (PostgreSQL, …) is not reachable or refuses the connection."""


class LocalStackError(LakesmithError):
    """Something about the local (no-Docker) services."""


class MissingBinaryError(LocalStackError):
    """A service binary cannot be found."""


class PortInUseError(LocalStackError):
    """A port the local stack needs is used by a process it did not start."""


class ServiceStartError(LocalStackError):
    """A service exited during start-up or did not become healthy in time."""


def validation_problems(exc: ValidationError, whole: str = "") -> str:
    """A Pydantic ``ValidationError`` as one line, ``field.path: message; …``. An error of
    the whole model (a validator across fields) is named ``whole``, or has no prefix;
    Pydantic's ``Value error, `` in front of a validator's own message is dropped."""
    problems = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"]) or whole
        message = e["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)
