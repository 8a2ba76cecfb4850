"""Running Alembic from the package: ``attribution db upgrade`` and the tests use the same path."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from attribution.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    ini = REPO_ROOT / "alembic.ini"
    if not ini.is_file():
        raise ConfigError(f"alembic.ini not found at {ini}: install the package from a checkout (pip -e)")
    cfg = Config(str(ini))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def check(database_url: str) -> None:
    """Raise if the tables in code and the migrations disagree (``alembic check``)."""
    command.check(alembic_config(database_url))
