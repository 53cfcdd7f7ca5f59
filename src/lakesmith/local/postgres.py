"""PostgreSQL from the OS server binaries (``initdb`` + ``postgres``).

``initdb`` refuses to run as root, so when lakesmith runs as root the cluster is
initialised and run as the unprivileged ``postgres`` user (or ``nobody``), which then
owns the data dir. Authentication: password (scram) over TCP on the loopback address,
the password generated once into the state dir.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from lakesmith.core.errors import LocalStackError, MissingBinaryError
from lakesmith.core.secrets import get_or_create_secret
from lakesmith.local.process import LocalService

if TYPE_CHECKING:  # imported where used: `lakesmith local status` need not load it
    import psycopg

_INSTALL_HINT = "apt-get install -y postgresql (make setup does this), or set local.pg_bin_dir"


def find_pg_bin_dir(configured: Path | None) -> Path:
    """The folder holding ``initdb`` and ``postgres``: configured, on PATH, or Debian's."""
    candidates: list[Path] = []
    if configured is not None:
        candidates.append(configured)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(debian)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    raise MissingBinaryError(
        "PostgreSQL server binaries (initdb, postgres) not found", hint=_INSTALL_HINT
    )


class PostgresService(LocalService):
    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back open transactions, exit

    @property
    def port(self) -> int:
        return self.settings.local.postgres_port

    @property
    def password(self) -> str:
        return get_or_create_secret(self.settings.state_dir, "postgres_password")

    def popen_user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        for candidate in ("postgres", "nobody"):
            try:
                pwd.getpwnam(candidate)
                return candidate
            except KeyError:
                continue
        raise LocalStackError("running as root and no unprivileged user (postgres/nobody) exists")

    def command(self) -> list[str]:
        bindir = find_pg_bin_dir(self.settings.local.pg_bin_dir)
        return [
            str(bindir / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self.port),
            "-h", self.host,
            "-k", str(self.root / "socket"),
            "-c", "max_connections=200",
            # A local ingest server: bigger buffers, fewer checkpoints during bulk loads, and
            # commits that do not wait for the WAL flush. A crash may lose the last few
            # commits, but positions are committed with their rows, so the worker replays them.
            "-c", "shared_buffers=512MB",
            "-c", "wal_buffers=16MB",
            "-c", "max_wal_size=4GB",
            "-c", "checkpoint_timeout=15min",
            "-c", "synchronous_commit=off",
        ]  # fmt: skip

    def _check_reachable(self, user: str) -> None:
        """The unprivileged user must be able to traverse every parent of the data dir."""
        uid = pwd.getpwnam(user).pw_uid
        for parent in self.root.parents:
            st = parent.stat()
            if st.st_uid != uid and not st.st_mode & stat.S_IXOTH:
                raise LocalStackError(
                    f"PostgreSQL runs as '{user}' (initdb refuses root), but {parent} is not "
                    f"searchable by that user, so it cannot reach {self.data_dir}",
                    hint=f"chmod o+x {parent}, or set state_dir to a folder under /tmp or /work",
                )

    def prepare(self) -> None:
        user = self.popen_user()
        socket_dir = self.root / "socket"
        socket_dir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            self._check_reachable(user)
            uid, gid = pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid
            os.chown(self.root, uid, gid)
            os.chown(socket_dir, uid, gid)
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            os.chown(self.data_dir, uid, gid)
        bindir = find_pg_bin_dir(self.settings.local.pg_bin_dir)
        with tempfile.NamedTemporaryFile("w", dir=self.root, delete=False) as pwfile:
            pwfile.write(self.password + "\n")
        try:
            if user is not None:
                os.chown(pwfile.name, uid, gid)
            result = subprocess.run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.settings.postgres.user,
                    f"--pwfile={pwfile.name}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=peer",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ],
                capture_output=True,
                text=True,
                user=user,
                cwd=self.root,
            )
        finally:
            Path(pwfile.name).unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise LocalStackError(f"initdb failed:\n{result.stdout}{result.stderr}")

    def _connect(self, dbname: str) -> psycopg.Connection[tuple[object, ...]]:
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.settings.postgres.user,
            password=self.password,
            dbname=dbname,
            connect_timeout=2,
            autocommit=True,
        )

    def is_healthy(self) -> bool:
        with self._connect("postgres") as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)

    def after_healthy(self) -> None:
        from psycopg import sql

        db = self.settings.postgres.database
        with self._connect("postgres") as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
