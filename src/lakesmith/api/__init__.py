"""The REST API (``lakesmith serve``): FastAPI routes (HTTP only) → services (use cases)
→ repositories in ``lakesmith.stores``. ``create_app(settings)`` builds the app."""
