"""An S3-compatible server on loopback: ``moto[server]`` (MinIO in the compose stack).

moto keeps objects in memory: they do not survive ``local down``.
"""

from __future__ import annotations

import importlib.util
import sys
import urllib.request

from lakesmith.core.errors import MissingBinaryError
from lakesmith.local.process import LocalService


class S3Service(LocalService):
    name = "s3"

    @property
    def port(self) -> int:
        return self.settings.local.s3_port

    def command(self) -> list[str]:
        if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
            raise MissingBinaryError(
                "the S3 server (package moto[server]) is not installed",
                hint="uv sync --extra local (make setup does this)",
            )
        return [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]

    def is_healthy(self) -> bool:
        with urllib.request.urlopen(f"http://{self.host}:{self.port}/", timeout=2) as resp:
            return bool(resp.status == 200)
