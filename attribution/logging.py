"""One logging setup for every entry point: text for a terminal, or one JSON object a line.

A log pipeline (Loki, Elasticsearch, Cloud Logging) parses JSON lines without a regular expression, so
``log_format = "json"`` (``ATTRIBUTION_LOG_FORMAT=json``) writes each record as an object with
``timestamp`` (UTC, ISO 8601 with milliseconds and ``Z``), ``level``, ``logger`` and ``message``, the
exception as ``exception`` when there is one, and every ``extra={...}`` field of the call at the top
level, so ``log.info("collected", extra={"collector": "gpu", "rows": 120})`` is queryable by ``rows``.

Records go to stderr, looked up at each write (a test runner that swaps ``sys.stderr`` still sees them).
Only the handler installed here is replaced on a second call, so pytest's capture handlers survive.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def utc_timestamp(created: float) -> str:
    """``2026-11-29T05:22:02.123Z``: the UTC instant of a record, to the millisecond."""
    instant = datetime.fromtimestamp(created, UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; values JSON cannot hold are strings (datetimes in ISO 8601)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": utc_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=_json_value, ensure_ascii=False)


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


class UtcTextFormatter(logging.Formatter):
    """The text format, with the same UTC timestamps as the JSON one (never the machine's zone)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return utc_timestamp(record.created)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time of the record."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def setup_logging(log_format: str = "text", level: str = "INFO") -> logging.Handler:
    """Point the root logger at stderr in ``log_format`` (``text`` or ``json``) from ``level`` up.

    Idempotent: calling it again (a CLI command after the CLI callback) replaces its own handler only.
    Returns the handler, for tests.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else UtcTextFormatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plugin, each run
    return handler


def setup_from_settings(settings: Any) -> logging.Handler:
    """``setup_logging`` from a :class:`attribution.config.Settings` (``log_format``, ``log_level``)."""
    return setup_logging(str(settings.log_format), str(settings.log_level))
