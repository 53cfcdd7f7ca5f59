"""The ``shop`` domain: an ``orders`` table in its own PostgreSQL database, read by the
``sql`` source kind (docs/sql-source.md)."""
