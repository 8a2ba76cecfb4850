"""The shipped pool presets, read from ``pools.toml``: ``pool_preset(name, ...)`` returns a ``PoolSpec``.

A preset is a table of ``PoolSpec`` fields; a scenario takes one by name and changes what it needs (a
replica's name and served model name, a GPU type, a context length). Every field is checked against the
type ``PoolSpec`` declares and every preset is built once when the file is first read, so an unknown
model key or a misspelt field fails with one line naming the file and the field, not mid-simulation.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from attribution.errors import ConfigError
from attribution.sim.cluster import PoolSpec
from attribution.sim.datafile import integer, number, only_keys, read, string, table, where

FILE = "pools.toml"
#: Fields a preset may set: every ``PoolSpec`` field but its name (the table's) and its outages (a
#: scenario's events, not the pool's make-up).
_HINTS = {k: v for k, v in get_type_hints(PoolSpec).items() if k not in ("name", "outages")}
_REQUIRED = {
    f.name
    for f in dataclasses.fields(PoolSpec)
    if f.name in _HINTS and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
}


def _value(value: object, hint: Any, file: str, field: str) -> object:
    """``value`` as the type ``hint`` of its PoolSpec field: int, float, str, a Literal or ``X | None``."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        (inner,) = [a for a in get_args(hint) if a is not type(None)]
        return _value(value, inner, file, field)
    if origin is Literal:
        if value not in get_args(hint):
            choices = ", ".join(repr(a) for a in get_args(hint))
            raise ConfigError(f"{where(file, field)}: expected one of {choices}, got {value!r}")
        return value
    if hint is int:
        return integer(value, file, field)
    if hint is float:
        return number(value, file, field)
    return string(value, file, field)


def parse_pool_presets(data: Mapping[str, Any], file: str = FILE) -> dict[str, dict[str, Any]]:
    """Check ``[pools.<name>]`` tables and build each one's ``PoolSpec`` once; return the typed fields."""
    only_keys(data, {"pools"}, file, "")
    out: dict[str, dict[str, Any]] = {}
    for name, entry in table(data.get("pools"), file, "pools").items():
        field = f"pools.{name}"
        only_keys(table(entry, file, field), set(_HINTS), file, field)
        missing = sorted(_REQUIRED - set(entry))
        if missing:
            raise ConfigError(
                f"{where(file, f'{field}.{missing[0]}')}: missing (required: {', '.join(missing)})"
            )
        fields: dict[str, Any] = {
            key: _value(value, _HINTS[key], file, f"{field}.{key}") for key, value in entry.items()
        }
        try:
            PoolSpec(name=name, **fields)
        except ConfigError as exc:
            raise ConfigError(f"{where(file, field)}: {exc}") from None
        out[name] = fields
    return out


@cache
def pool_presets() -> dict[str, dict[str, Any]]:
    """The shipped presets by name (read on first use: building one touches the model catalog)."""
    return parse_pool_presets(read(FILE))


def pool_preset(preset: str, name: str | None = None, **changes: Any) -> PoolSpec:
    """The pool of ``preset`` named ``name`` (default: the preset's name), with ``changes`` applied."""
    try:
        fields = pool_presets()[preset]
    except KeyError:
        known = ", ".join(pool_presets())
        raise ConfigError(f"unknown pool preset {preset!r} ({where(FILE, '')}); known: {known}") from None
    return PoolSpec(**{**fields, "name": preset if name is None else name, **changes})
