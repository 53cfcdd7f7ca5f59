"""Helpdesk: support tickets read from a paged REST API, incrementally by ``updated_at``
(``tickets.yaml``, the ``http`` source kind); ``lakesmith demo helpdesk`` serves them from
the local test API (``lakesmith.testing.http_service``)."""
