"""Reading the simulator's shipped TOML data (``gpus.toml``, ``pools.toml`` beside this module).

The files are data, not code, so a mistake in one must say where it is: every error is one line that
names the file and the field (``attribution/sim/pools.toml: pools.llama-8b.gpus: expected an integer``).
The checks below turn TOML values into the exact Python types the spec dataclasses hold.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

from attribution.errors import ConfigError

PACKAGE = "attribution.sim"


def where(file: str, field: str) -> str:
    """How an error names a place: the file as it sits in the source tree, then the dotted field."""
    return f"attribution/sim/{file}: {field}" if field else f"attribution/sim/{file}"


def read(file: str) -> dict[str, Any]:
    """Parse the shipped data file ``file`` (a TOML syntax error names the file and the line)."""
    text = resources.files(PACKAGE).joinpath(file).read_text(encoding="utf-8")
    return parse(text, file)


def parse(text: str, file: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where(file, '')}: {exc}") from None


def table(value: object, file: str, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where(file, field)}: expected a table, got {value!r}")
    return value


def only_keys(data: Mapping[str, Any], allowed: set[str], file: str, field: str) -> None:
    """Refuse a key the reader would ignore: a misspelt field must not silently take its default."""
    for key in data:
        if key not in allowed:
            prefix = f"{field}.{key}" if field else key
            raise ConfigError(f"{where(file, prefix)}: unknown field; known: {', '.join(sorted(allowed))}")


def integer(value: object, file: str, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where(file, field)}: expected an integer, got {value!r}")
    return value


def number(value: object, file: str, field: str) -> float:
    """A float; a TOML integer is accepted (``700`` for ``700.0``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where(file, field)}: expected a number, got {value!r}")
    return float(value)


def string(value: object, file: str, field: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where(file, field)}: expected a string, got {value!r}")
    return value


def pair(value: object, file: str, field: str) -> tuple[object, object]:
    if not isinstance(value, list) or len(value) != 2:
        raise ConfigError(f"{where(file, field)}: expected a list of two values, got {value!r}")
    return value[0], value[1]
