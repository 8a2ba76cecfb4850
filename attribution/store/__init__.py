"""Postgres (system of record) and SQLite (the embedded default) storage: tables, sessions, queries."""
