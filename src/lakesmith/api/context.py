"""Everything a running app holds: settings, the PostgreSQL pool and the services."""

from __future__ import annotations

from dataclasses import dataclass

from lakesmith.api.auth import signing_secret
from lakesmith.api.services.gold import GoldService
from lakesmith.api.services.jobs import JobService
from lakesmith.api.services.ops import OpsService
from lakesmith.api.services.raw import RawService
from lakesmith.api.services.search import SearchService
from lakesmith.api.services.uploads import UploadService
from lakesmith.api.services.users import UserService
from lakesmith.config import Settings
from lakesmith.stores.gold_repository import GoldRepository
from lakesmith.stores.pg_pool import ConnectionPool


@dataclass
class AppContext:
    settings: Settings
    pool: ConnectionPool
    users: UserService
    gold: GoldService
    raw: RawService
    uploads: UploadService
    ops: OpsService
    jobs: JobService
    search: SearchService

    @classmethod
    def build(cls, settings: Settings) -> AppContext:
        """Services for ``settings``; raises ``ConfigError`` for a missing secret."""
        secret = signing_secret(settings)
        pool = ConnectionPool(settings, size=settings.api.db_pool_size)
        return cls(
            settings=settings,
            pool=pool,
            users=UserService(settings, pool, secret),
            gold=GoldService(settings, GoldRepository(pool)),
            raw=RawService(settings),
            uploads=UploadService(settings),
            ops=OpsService(settings, pool),
            jobs=JobService(settings, pool),
            search=SearchService(settings),
        )

    def close(self) -> None:
        self.jobs.close()
        self.pool.close()
