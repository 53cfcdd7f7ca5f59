"""An ASGI app served by uvicorn in a daemon thread on a free loopback port: the local test
API of the ``http`` source (``testing.http_service``) and the REST API in ``demo entities``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from lakesmith.testing.stack import free_ports


class ThreadedServer:
    """``with ThreadedServer(app, "name") as server: server.url`` — started when entered,
    stopped (and joined) when left."""

    def __init__(self, app: Any, name: str, port: int | None = None) -> None:
        self.app = app
        self.name = name
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError(f"{self.name} is not started")
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> ThreadedServer:
        import uvicorn

        self.port = self.port or free_ports(1)[0]
        config = uvicorn.Config(  # the plain asyncio loop: uvloop would change the
            self.app,  # event loop policy of the whole process (the test's, the demo's)
            host="127.0.0.1",
            port=self.port,
            loop="asyncio",
            log_level="warning",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name=self.name)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self.name} did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._server = self._thread = None

    def __enter__(self) -> ThreadedServer:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
