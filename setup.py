"""Ships the project's top-level ``migrations/`` folder inside the wheel, as ``attribution/_migrations``.

Everything else about the package is in ``pyproject.toml``. The migrations stay at the top of the
checkout (the project's agreed layout, where ``alembic revision`` writes them); an installed wheel has no
checkout, so ``attribution.store.migrate`` finds them in the package instead. An editable install reads
the checkout's folder directly and copies nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
PACKAGED_AS = Path("attribution") / "_migrations"


class BuildPyWithMigrations(build_py):
    """``build_py`` plus a copy of ``migrations/`` (Python files and the revision template)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / PACKAGED_AS
        shutil.rmtree(target, ignore_errors=True)
        for source in sorted(MIGRATIONS.rglob("*")):
            if source.is_file() and source.suffix in {".py", ".mako"} and "__pycache__" not in source.parts:
                destination = target / source.relative_to(MIGRATIONS)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination)


setup(cmdclass={"build_py": BuildPyWithMigrations})
