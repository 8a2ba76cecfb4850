"""The package as a user installs it: a wheel built from this checkout, installed (not editable) into a
fresh virtual environment, run from a directory far from any checkout. It must print its version,
migrate a fresh Postgres database and a new SQLite file, and run the demo.

The wheel carries the top-level ``migrations/`` folder as ``attribution/_migrations`` (``setup.py``);
before it did, ``db upgrade`` failed with ``alembic.ini not found``. Dependencies come from the package
index as pip is configured here (its cache makes a second run quick).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from attribution.localprom import binaries
from attribution.store.migrate import alembic_config
from attribution.store.session import make_engine
from tests.support.postgres import fresh_database

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A fresh venv (no system site-packages) with the wheel installed; its bin dir and a clean env."""
    base = tmp_path_factory.mktemp("wheel")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ATTRIBUTION_", "PYTHON", "VIRTUAL_ENV")) and k != "PATH"
    }
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    dist = base / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT)], base, env)
    (wheel,) = dist.glob("attribution-*.whl")
    venv = base / "venv"
    run([sys.executable, "-m", "venv", str(venv)], base, env)
    run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], base, env)
    env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    return venv / "bin", env


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head
    return head


def test_the_installed_package_is_the_wheel_with_its_migrations(
    installed: tuple[Path, dict[str, str]],
) -> None:
    bin_dir, env = installed
    where = run(
        [str(bin_dir / "python"), "-c", "import attribution.store.migrate as m; print(m.migrations_dir())"],
        bin_dir.parent.parent,
        env,
    ).strip()
    assert where.startswith(str(bin_dir.parent)) and where.endswith("attribution/_migrations"), where
    assert (Path(where) / "versions").is_dir() and str(ROOT) not in where


def test_version(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    bin_dir, env = installed
    assert run([str(bin_dir / "attribution"), "--version"], tmp_path, env).strip() == f"attribution {VERSION}"


def test_db_upgrade_on_sqlite_and_on_a_fresh_postgres(
    installed: tuple[Path, dict[str, str]], tmp_path: Path, pg_server: str
) -> None:
    bin_dir, env = installed
    run(
        [str(bin_dir / "attribution"), "db", "upgrade"],
        tmp_path,
        env | {"ATTRIBUTION_DATABASE_URL": "sqlite:///a.db"},
    )
    with sqlite3.connect(tmp_path / "a.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]
    with fresh_database(pg_server) as url:
        run(
            [str(bin_dir / "attribution"), "db", "upgrade"], tmp_path, env | {"ATTRIBUTION_DATABASE_URL": url}
        )
        engine = make_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
        engine.dispose()


@pytest.mark.slow
def test_the_demo_runs_from_the_installed_package(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    binaries()  # Prometheus and promtool (scripts/ensure-prometheus.sh): the demo needs them
    bin_dir, env = installed
    out = run([str(bin_dir / "attribution"), "demo", "--days", "1", "--out", "demo-out"], tmp_path, env)
    assert "wrote demo-out/chargeback.csv" in out
    rows = (tmp_path / "demo-out" / "chargeback.csv").read_text().splitlines()
    assert len(rows) > 2  # a header and tenants
