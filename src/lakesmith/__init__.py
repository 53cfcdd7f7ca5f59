"""lakesmith: lakehouse ingestion, source → bronze → validate → silver → gold → serve.

The package is laid out along the data flow:

- ``config``    one pydantic-settings ``Settings`` (``lakesmith.toml`` + ``LAKESMITH__…`` env)
- ``core``      errors, logging, secrets: what every stage shares
- ``local``     the no-Docker local stack (PostgreSQL, Kafka-protocol broker, Typesense, S3)
- ``stores``    clients for the storage engines (object storage, PostgreSQL, …)
- ``cli``       the ``lakesmith`` command
"""

__version__ = "0.1.0"
