"""Alembic migrations of the gold warehouse (one branch per gold model, one PostgreSQL
schema per model instance); run by ``stores.warehouse.upgrade``."""
