"""Report dataclasses to API schemas: times to RFC 3339 ``Z`` strings, nothing else changes."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from attribution.timeutil import iso

M = TypeVar("M", bound=BaseModel)


def plain(value: Any) -> Any:
    """A dataclass (or list, dict) as JSON-ready data, datetimes as ISO strings."""
    if isinstance(value, datetime):
        return iso(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def to_schema(model: type[M], value: Any, **extra: Any) -> M:
    """``model`` from a dataclass or an ORM row: fields and properties by name, overridden by ``extra``."""
    data = plain(value) if is_dataclass(value) else {}
    for name in model.model_fields:
        if name not in data and hasattr(value, name):
            data[name] = plain(getattr(value, name))
    data.update(extra)
    return model.model_validate(data)
