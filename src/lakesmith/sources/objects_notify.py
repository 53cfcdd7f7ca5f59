"""S3 event notifications for the ``s3`` source: an SQS queue the bucket sends its
``ObjectCreated`` events to (``source.notifications_queue``).

They only wake the source up: when a message arrives it lists the bucket at once instead
of waiting for ``poll_interval_s`` (a full listing when a notified key lies below the
listing watermark: a late or overwritten object). The listing stays the truth, so a lost,
late or duplicated notification changes latency, never what is read. Messages are deleted
after the listing that they triggered succeeded (else they come back after the queue's
visibility timeout).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from lakesmith.core.logging import get_logger

if TYPE_CHECKING:
    from lakesmith.config import Settings

log = get_logger(__name__)


@dataclass(frozen=True)
class Notified:
    keys: list[str]  # object keys created (decoded), possibly empty (test events)
    receipts: list[str]  # to delete the messages once handled


class Notifications:
    """Long-polls an SQS queue for a bucket's ``ObjectCreated`` events."""

    def __init__(self, settings: Settings, queue: str, endpoint_url: str | None) -> None:
        import boto3

        key, secret = settings.effective_s3_credentials() or (None, None)  # the SDK's chain
        self.client: Any = boto3.client(
            "sqs",
            endpoint_url=endpoint_url or settings.effective_s3_endpoint(),
            region_name=settings.s3.region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )
        self.url = (
            queue if "://" in queue else self.client.get_queue_url(QueueName=queue)["QueueUrl"]
        )

    def wait(self, seconds: float) -> Notified:
        """Messages received within ``seconds`` (at most 10; SQS long polling, ≤ 20 s)."""
        got = self.client.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=max(0, min(20, int(seconds)))
        )
        keys: list[str] = []
        receipts: list[str] = []
        for message in got.get("Messages", []):
            receipts.append(message["ReceiptHandle"])
            try:
                records = json.loads(message["Body"]).get("Records", [])
            except (ValueError, AttributeError):
                records = []  # not an S3 event: only a wake-up
            for r in records:
                if str(r.get("eventName", "")).startswith("ObjectCreated"):
                    keys.append(unquote_plus(r["s3"]["object"]["key"]))
        return Notified(keys, receipts)

    def done(self, notified: Notified) -> None:
        """Delete the handled messages."""
        for i in range(0, len(notified.receipts), 10):
            entries = [
                {"Id": str(j), "ReceiptHandle": h}
                for j, h in enumerate(notified.receipts[i : i + 10])
            ]
            self.client.delete_message_batch(QueueUrl=self.url, Entries=entries)
