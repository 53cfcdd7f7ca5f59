"""The whole local stack: start in dependency order, stop in reverse, report status."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from lakesmith.config import Settings
from lakesmith.core.errors import LocalStackError
from lakesmith.local.kafka import KafkaService
from lakesmith.local.postgres import PostgresService
from lakesmith.local.process import LocalService, ServiceStatus, tail
from lakesmith.local.s3 import S3Service
from lakesmith.local.typesense import TypesenseService

# Start order: S3 before the broker (its s3:// storage engine may live there).
SERVICE_TYPES: dict[str, type[LocalService]] = {
    "postgres": PostgresService,
    "s3": S3Service,
    "kafka": KafkaService,
    "typesense": TypesenseService,
}


def _broker_needs_local_s3(settings: Settings) -> bool:
    """The local broker keeps its topics on the local S3 server (``s3://`` storage)."""
    storage = settings.local.kafka_storage
    return storage.startswith("s3://") and settings.s3.endpoint_url is None


class LocalStack:
    def __init__(self, settings: Settings, names: Iterable[str] | None = None) -> None:
        self.settings = settings
        wanted = list(names) if names is not None else list(settings.local.services)
        if "kafka" in wanted and _broker_needs_local_s3(settings) and "s3" not in wanted:
            wanted.append("s3")  # its storage: started with it, stopped with it
        unknown = [n for n in wanted if n not in SERVICE_TYPES]
        if unknown:
            raise LocalStackError(
                f"unknown service(s): {', '.join(unknown)}; known: {', '.join(SERVICE_TYPES)}"
            )
        self.services: dict[str, LocalService] = {
            name: cls(settings) for name, cls in SERVICE_TYPES.items() if name in wanted
        }

    def service(self, name: str) -> LocalService:
        try:
            return self.services[name]
        except KeyError:
            raise LocalStackError(
                f"unknown service {name!r}; known: {', '.join(self.services)}"
            ) from None

    def up(self, on_event: Callable[[str, str], None] | None = None) -> dict[str, bool]:
        """Start every service not yet running; returns ``{name: started_now}``."""
        started: dict[str, bool] = {}
        for name, svc in self.services.items():
            if on_event:
                on_event(name, "starting")
            started[name] = svc.start()
            if on_event:
                on_event(name, "started" if started[name] else "already running")
        return started

    def down(self) -> dict[str, bool]:
        """Stop every service this state dir started; returns ``{name: was_running}``."""
        return {name: svc.stop() for name, svc in reversed(list(self.services.items()))}

    def status(self) -> list[ServiceStatus]:
        return [svc.status() for svc in self.services.values()]

    def logs(self, name: str, lines: int = 50) -> str:
        return tail(self.service(name).log_file, lines)
