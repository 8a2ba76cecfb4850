"""What the command line prints when an operator's setup is wrong: one line naming the problem and the fix.

:func:`attribution.cli.launch.main` asks ``describe`` about every exception a command raises. A failure
an operator can fix (a bad setting, a database that is unreachable, missing or not migrated) becomes
``(code, line)`` and exit code 2; anything else is a bug and keeps its traceback. The database is named by
its host, port and database (or SQLite path), never with its password or query string.
"""

from __future__ import annotations

import json
import re

from pydantic_settings import SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from attribution.errors import AttributionError

UPGRADE = "`attribution db upgrade`"
#: PostgreSQL's SQLSTATEs for a relation or column that does not exist: a schema behind the code.
_UNDEFINED_SQLSTATES = {"42P01", "42703"}
_SQLITE_UNMIGRATED = ("no such table", "no such column")


def describe(exc: BaseException) -> tuple[str, str] | None:
    """``(code, one line)`` for a failure the operator can fix; None for anything else (a bug)."""
    cause = exc.__cause__
    if isinstance(exc, AttributionError) and isinstance(cause, DBAPIError):
        return _database(cause)
    if isinstance(exc, AttributionError):
        return exc.code, exc.detail
    if isinstance(exc, DBAPIError):
        return _database(exc)
    if isinstance(exc, SettingsError):
        return "config_error", _settings_error(exc)
    return None


def _database(exc: DBAPIError) -> tuple[str, str] | None:
    where = database_name(_configured_url())
    reason = _first_line(exc.orig)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in _UNDEFINED_SQLSTATES or reason.startswith(_SQLITE_UNMIGRATED):
        return "database_not_migrated", (
            f"the database {where} is not migrated to this version ({reason}): run {UPGRADE}"
        )
    if not exc.connection_invalidated and not _is_connection_failure(exc, reason):
        return None  # a statement the database refused: a bug, with its traceback
    if reason == "unable to open database file":
        return "database_unavailable", (
            f"there is no SQLite database {where}: run {UPGRADE} to create it, "
            "or set ATTRIBUTION_DATABASE_URL to an existing one"
        )
    if re.search(r'database "[^"]*" does not exist', reason):
        return "database_unavailable", (
            f"the database {where} does not exist: create it (createdb), then run {UPGRADE}"
        )
    return "database_unavailable", (
        f"cannot reach the database {where} ({reason}): check that it is running and "
        f"ATTRIBUTION_DATABASE_URL; a new database needs {UPGRADE}"
    )


def _is_connection_failure(exc: DBAPIError, reason: str) -> bool:
    """OperationalError covers a lost or refused connection (and SQLite's I/O), not a bad statement."""
    return type(exc).__name__ in {"OperationalError", "InterfaceError"} or "connection" in reason.lower()


def _configured_url() -> str | None:
    from attribution.config import load_settings

    try:
        return load_settings().database_url
    except Exception:  # the settings failed already; the line then names no database
        return None


def database_name(url: str | None) -> str:
    """``at host:port/name`` for a server, the file path for SQLite; never a password or query."""
    if not url:
        return "(ATTRIBUTION_DATABASE_URL)"
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "(ATTRIBUTION_DATABASE_URL is not a database URL)"
    if parsed.get_backend_name() == "sqlite":
        return f"at {parsed.database or ':memory:'}"
    port = f":{parsed.port}" if parsed.port else ""
    return f"at {parsed.host or 'localhost'}{port}/{parsed.database or ''}"


def _settings_error(exc: SettingsError) -> str:
    """pydantic-settings names the field and source; the reason (bad JSON) is in the cause."""
    field = re.search(r'field "([^"]+)"', str(exc))
    reason = exc.__cause__
    detail = f"{reason.msg} at character {reason.pos}" if isinstance(reason, json.JSONDecodeError) else None
    if field and "EnvSettingsSource" in str(exc):
        variable = f"ATTRIBUTION_{field.group(1).upper()}"
        because = f" ({detail})" if detail else ""
        return (
            f"the environment variable {variable} is not valid JSON{because}: give a JSON object, "
            f"or set one key with {variable}__<KEY>=value"
        )
    return f"invalid configuration: {_first_line(exc)}{f' ({detail})' if detail else ''}"


def _first_line(error: BaseException | None) -> str:
    text = str(error or "").strip()
    return text.splitlines()[0].strip() if text else type(error).__name__
