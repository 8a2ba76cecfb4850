"""Postgres (system of record) and SQLite (the embedded default) storage: tables, sessions, queries."""

# Registers the collection-state tables on Base.metadata wherever the store is imported (Alembic too).
from attribution.store import collection_state as collection_state
