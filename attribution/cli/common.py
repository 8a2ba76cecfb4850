"""What the command groups share: the consoles, the settings and a session factory, window options.

Light on purpose: every command module imports it, and ``attribution --help`` imports every command
module. Settings, SQLAlchemy and the reports are imported inside the functions that need them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Annotated

import typer

from attribution.errors import InvalidWindowError
from attribution.timeutil import parse_instant, parse_period

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.orm import Session, sessionmaker

    from attribution.config import Settings


@cache
def console() -> Console:
    """stdout (rich is imported on first use, not to list the commands)."""
    from rich.console import Console

    return Console(soft_wrap=True)


@cache
def err() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


@cache
def table_console() -> Console:
    """Tables need room for nine columns even when stdout is a pipe (rich assumes 80 columns then)."""
    from rich.console import Console

    return Console(width=max(console().width, 130))


StartOpt = Annotated[str, typer.Option("--start", help="ISO 8601 UTC, inclusive")]
EndOpt = Annotated[str, typer.Option("--end", help="ISO 8601 UTC, exclusive")]
ClusterOpt = Annotated[
    str | None, typer.Option("--cluster", help="only this cluster (default: every configured cluster)")
]


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def current_settings() -> Settings:
    from attribution.config import load_settings

    return load_settings()


def instant(value: str) -> datetime:
    return parse_instant(value)


def session_factory(settings: Settings) -> sessionmaker[Session]:
    from attribution.store.session import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(settings.database_url))


def canonical_period(value: str | None) -> str | None:
    """A period given on the command line, parsed once (:func:`parse_period`): other digits are refused."""
    if value is None:
        return None
    try:
        return parse_period(value)
    except InvalidWindowError as exc:
        raise typer.BadParameter(exc.detail) from None
