"""The ``lakesmith`` command (Typer + Rich).

Each command group lives in its own module and is registered here. Errors that a user
or the environment causes (``LakesmithError``; a lost PostgreSQL connection, a Kafka
error, a port in use, a permission denied, a full disk) print one clear message and its
fix and exit 2; no traceback unless ``--debug``.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from typer import _click as click
from typer.core import TyperOption

from lakesmith import __version__
from lakesmith.cli import (
    backfill,
    compact,
    datasets,
    demo,
    dq,
    local,
    positions,
    reprocess,
    run,
    ship,
    simulate,
)
from lakesmith.cli import ingest as ingest_cli
from lakesmith.cli import profile as profile_cli
from lakesmith.cli import schedule as schedule_cli
from lakesmith.cli import watch as watch_cli
from lakesmith.cli.common import state, tidy_help
from lakesmith.core.errors import LakesmithError

# Start-up: every command module is imported here (for the help listing), so they import
# nothing heavy at module level; each command imports what it uses when it runs.

_type_of = TyperOption.display_type_rich


def _display_type(self: TyperOption, ctx: click.Context) -> str | None:
    """A flag takes no value: no ``<bool>`` beside it in the help."""
    if self.is_flag and self.metavar is None:
        return None
    return _type_of(self, ctx)


TyperOption.display_type_rich = _display_type  # type: ignore[method-assign]

app = typer.Typer(
    name="lakesmith",
    help="Lakehouse ingestion: sources → bronze → validate → silver → gold → serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(local.app, name="local")
app.add_typer(run.app, name="run")
app.add_typer(simulate.app, name="simulate")
app.command("produce")(simulate.produce)
app.add_typer(dq.app, name="dq")
app.add_typer(datasets.quarantine_app, name="quarantine")
app.add_typer(datasets.schema_app, name="schema")
app.add_typer(demo.app, name="demo")
app.command("backfill")(backfill.backfill)
app.command("compact")(compact.compact)
app.command("reset-positions")(positions.reset_positions)
app.command("ingest")(ingest_cli.ingest)
app.command("watch")(watch_cli.watch)
app.command("profile")(profile_cli.profile)
app.add_typer(ship.app, name="ship")
app.command("reprocess")(reprocess.reprocess)
app.command("schedule")(schedule_cli.schedule)
app.add_typer(schedule_cli.jobs_app, name="jobs")
__import__("lakesmith.cli.serve", fromlist=["register"]).register(app)  # serve, api
app.add_typer(__import__("lakesmith.cli.search", fromlist=["app"]).app, name="search")
app.add_typer(__import__("lakesmith.cli.docs", fromlist=["app"]).app, name="docs")
tidy_help(app)


_debug = False  # --debug: errors re-raised with their traceback (cli.common.state has no field)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lakesmith {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    log_level: str | None = typer.Option(
        None, "--log-level", help="DEBUG, INFO, WARNING or ERROR (overrides config)."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback of an error instead of one line."
    ),
    state_dir: Path | None = typer.Option(
        None,
        "--state-dir",
        file_okay=False,
        help="State folder (data, logs, pids, secrets); overrides LAKESMITH__STATE_DIR and "
        "lakesmith.toml. Default: .lakesmith in the nearest folder upwards that holds "
        "lakesmith.toml or .lakesmith/, else ./.lakesmith.",
    ),
) -> None:
    """lakesmith — configure with lakesmith.toml (here or in a parent folder) or
    LAKESMITH__SECTION__KEY env vars."""
    global _debug
    if log_level is not None:
        from typing import get_args

        from lakesmith.config.settings import Settings

        levels = get_args(Settings.model_fields["log_level"].annotation)
        if log_level.upper() not in levels:
            raise typer.BadParameter(f"{log_level!r} is not one of {', '.join(levels)}")
        log_level = log_level.upper()
    state.log_level = log_level
    state.state_dir = state_dir
    _debug = debug


def _environment_error(exc: Exception) -> tuple[str, str] | None:
    """(message, fix) for an error the environment causes deep in a command, else None.

    Checked by module lookup, not import: a library not loaded cannot have raised, and
    ``lakesmith --help`` stays free of confluent_kafka."""
    psycopg = sys.modules.get("psycopg")
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    kafka = sys.modules.get("confluent_kafka")
    pg_error = exc
    if sqlalchemy_exc is not None and isinstance(exc, sqlalchemy_exc.OperationalError):
        pg_error = exc.orig  # a lake catalog in PostgreSQL (SQLAlchemy wraps psycopg's error)
    if psycopg is not None and isinstance(pg_error, psycopg.OperationalError):
        from lakesmith.stores.postgres import connect_failure

        if (failed := connect_failure(pg_error)) is not None:  # e.g. the lake catalog's
            return failed.message, failed.hint or ""
        sqlstate = pg_error.sqlstate or ""
        lost = not sqlstate or sqlstate.startswith(("08", "57P"))  # no server reply, shutdown
        return (
            f"{'lost the connection to PostgreSQL' if lost else 'PostgreSQL failed'} "
            f"({_first_line(pg_error)})",
            ("check it runs ('lakesmith local status postgres'; "
             "'lakesmith local up postgres' starts it), then re-run" if lost else "re-run")
            + ": a worker resumes from the positions its sinks committed",
        )  # fmt: skip
    if kafka is not None and isinstance(exc, kafka.KafkaException):
        err = exc.args[0] if exc.args else None
        text = err.str() if isinstance(err, kafka.KafkaError) else _first_line(exc)
        return (
            f"Kafka error: {text}",
            "check the broker runs ('lakesmith local up kafka') or set "
            "LAKESMITH__KAFKA__BOOTSTRAP_SERVERS",
        )
    if isinstance(exc, PermissionError):
        return (
            f"permission denied: {exc.filename}"
            if exc.filename is not None
            else f"permission denied ({_first_line(exc)})",
            "check who owns it (ls -l), or use a folder you can write "
            "(LAKESMITH__STATE_DIR for the state dir)",
        )
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"no space left on device{f': {exc.filename}' if exc.filename else ''}",
            "free disk space (the state dir and the lake's warehouse grow as data comes in), "
            "then re-run",
        )
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return (
            f"address already in use ({_first_line(exc)})",
            "another process holds the port: stop it, or configure another port",
        )
    return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


def _fail(message: str, hint: str | None) -> None:
    """``error: …`` and ``fix: …`` on stderr, each one line (never wrapped), then exit 2."""
    err = Console(stderr=True, soft_wrap=True)
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    if hint:
        err.print(f"[yellow]fix:[/] {escape(hint)}", highlight=False)
    sys.exit(2)


# Allocator settings of every lakesmith process, read by pyarrow and Polars when they load
# (after this, in ``main``). Measured on the IoT benchmark (``bench_iot_e2e.py --events
# 2000000 --batch-size 200000``, alternating): Arrow on glibc's malloc instead of its
# bundled mimalloc, which hands a batch's freed pages back and faults them in zeroed for
# the next one, +4.6 % events/s over five pairs, peaks unchanged (977-1,024 MiB); with
# Polars' jemalloc also purging freed pages within 250 ms (Polars' own default: 500 ms,
# muzzy pages 1 s, no background thread) the gain is gone but the peak falls: the same
# events/s as before both, 897-930 against 967-1,018 MiB. A 1 GB CSV ingest: 782 and 821
# against 913 and 950 MiB, the same CPU (41.0 / 35.1 against 39.9 / 39.4 s; ``lakesmith
# ingest`` had switched Arrow to glibc on its own before, now it takes this default too).
# ``lakesmith ingest`` keeps freed pages for 1 s instead (``JEMALLOC_CONF_BY_COMMAND``): a
# 1 GB CSV, four pairs alternating, 35.9-37.7 s of CPU against 37.6-39.8 s (system CPU
# 4.6 / 4.8 s against 6.5 / 6.9 s in two of them), peaks 794-820 against 776-803 MiB (its
# own trims bound them); the IoT worker peaked 974-975 against 890-937 MiB that way, so
# the streaming commands keep 250 ms. 5 s gave ingest no more than 1 s, +30-40 MiB.
ARROW_POOL = ("ARROW_DEFAULT_MEMORY_POOL", "system")
JEMALLOC_CONF = ("_RJEM_MALLOC_CONF", "background_thread:true,dirty_decay_ms:250,muzzy_decay_ms:0")
JEMALLOC_CONF_BY_COMMAND = {"ingest": "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0"}
_ROOT_OPTIONS_WITH_VALUES = ("--log-level", "--state-dir")
# what ``import polars`` writes into the environment when nothing is set: a lakesmith
# process started by a Python process that imported Polars inherits it
_POLARS_JEMALLOC_DEFAULTS = ("dirty_decay_ms:500,muzzy_decay_ms:1000",)


def command_of(argv: list[str]) -> str | None:
    """The subcommand ``argv`` (without the program) runs: its first word that is neither
    a root option nor a root option's value (``--log-level WARNING ingest x.csv`` →
    ``ingest``)."""
    words = iter(argv)
    for word in words:
        if word in _ROOT_OPTIONS_WITH_VALUES:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def allocator_defaults(command: str | None = None) -> None:
    """Put ``ARROW_POOL`` and ``JEMALLOC_CONF`` (``command``'s own, if it has one) in the
    environment (this process and its children: uvicorn workers, scheduled jobs) where
    the user has not set them."""
    name, value = ARROW_POOL
    os.environ.setdefault(name, value)
    name, value = JEMALLOC_CONF
    if os.environ.get(name, "") in ("", *_POLARS_JEMALLOC_DEFAULTS):
        os.environ[name] = JEMALLOC_CONF_BY_COMMAND.get(command or "", value)


def main() -> None:
    allocator_defaults(command_of(sys.argv[1:]))
    try:
        app()
    except LakesmithError as exc:
        if _debug:
            raise
        _fail(exc.message, exc.hint)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM in `lakesmith run`: in-flight writes finished
        Console(stderr=True).print("interrupted", highlight=False)
        sys.exit(130)
    except Exception as exc:
        known = _environment_error(exc)
        if known is None or _debug:
            raise
        _fail(*known)


__all__ = ["app", "main"]
