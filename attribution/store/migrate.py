"""Running Alembic from the package: ``attribution db upgrade``, the demo and the tests use the same path.

Alembic is configured here in code, not from ``alembic.ini``, so that an installed wheel (no checkout
next to it, no ``alembic.ini``) migrates exactly as a checkout does. The migrations themselves live in
the project's top-level ``migrations/`` folder; ``setup.py`` ships that folder inside the wheel as
``attribution/_migrations``. ``alembic.ini`` stays in the checkout for developers' ``alembic revision``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from attribution.errors import ConfigError
from attribution.store.session import make_engine, normalise_url

PACKAGE_DIR = Path(__file__).resolve().parents[1]
#: An installed wheel: the top-level ``migrations/`` folder as ``setup.py`` copied it into the package.
PACKAGED_MIGRATIONS = PACKAGE_DIR / "_migrations"
#: A checkout (editable install, tests, the image's build stage): the folder itself, next to the package.
CHECKOUT_MIGRATIONS = PACKAGE_DIR.parent / "migrations"


def migrations_dir() -> Path:
    """Where ``env.py`` and ``versions/`` are: the packaged copy first, then a checkout's folder.

    A checkout is recognised by its ``pyproject.toml``, so an unrelated ``migrations`` folder beside an
    installed package (``site-packages/migrations``) is never taken for ours."""
    if (PACKAGED_MIGRATIONS / "env.py").is_file():
        return PACKAGED_MIGRATIONS
    if (CHECKOUT_MIGRATIONS / "env.py").is_file() and (PACKAGE_DIR.parent / "pyproject.toml").is_file():
        return CHECKOUT_MIGRATIONS
    raise ConfigError(
        f"the migrations are missing: neither {PACKAGED_MIGRATIONS} nor {CHECKOUT_MIGRATIONS} holds env.py; "
        "reinstall the package from its wheel or a checkout"
    )


def alembic_config(database_url: str) -> Config:
    """The settings ``alembic.ini`` gives a developer, set in code (``%`` is doubled for ConfigParser)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("timezone", "UTC")
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate to ``revision``; the one path that creates a new SQLite file (every other opens it only)."""
    if normalise_url(database_url).startswith("sqlite"):
        engine = make_engine(database_url, create=True)
        engine.connect().close()
        engine.dispose()
    command.upgrade(alembic_config(database_url), revision)


def check(database_url: str) -> None:
    """Raise if the tables in code and the migrations disagree (``alembic check``)."""
    command.check(alembic_config(database_url))
