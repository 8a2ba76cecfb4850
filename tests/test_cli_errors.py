"""An operator's setup mistakes, as the installed CLI meets them in its own process: one line on stderr
naming the problem and the fix, exit code 2, never a traceback, and nothing written.

Databases: unreachable, missing, not migrated (Postgres and SQLite); settings: a malformed JSON value in
a nested environment variable; attribution: GPUs with no inventory or no price in effect.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.localprom import free_port
from attribution.store.tables import AttributedCost
from tests.builders import T0, create_gpu_rows, store
from tests.support.postgres import fresh_database

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = (ROOT / "deploy" / "attribution.example.toml").read_text()
WINDOW = ["--start", "2026-11-02T00:00:00Z", "--end", "2026-11-02T01:00:00Z"]


def run_cli(
    args: list[str], cwd: Path, env: dict[str, str], config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ATTRIBUTION_")}
    if config is not None:
        clean["ATTRIBUTION_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "attribution.cli", *args],
        cwd=cwd,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str], code: str) -> str:
    """The failure is exit 2 with exactly one line on stderr, ``error (code): ...``."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error ({code}): "), lines[0]
    return lines[0]


@pytest.mark.parametrize("command", [["keys", "list"], ["period", "list"], ["attribute", *WINDOW]])
def test_an_unreachable_database_is_one_line_naming_the_host_never_the_password(
    command: list[str], tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://attribution:s3cret-pw@127.0.0.1:{port}/attribution"
    done = run_cli(command, tmp_path, {"ATTRIBUTION_DATABASE_URL": url})
    line = one_line_error(done, "database_unavailable")
    assert f"127.0.0.1:{port}/attribution" in line
    assert "s3cret-pw" not in done.stdout + done.stderr
    assert "attribution db upgrade" in line


def test_db_upgrade_on_an_unreachable_database_is_one_line_too(tmp_path: Path) -> None:
    port = free_port()
    done = run_cli(
        ["db", "upgrade"], tmp_path, {"ATTRIBUTION_DATABASE_URL": f"postgresql://u:pw@127.0.0.1:{port}/db"}
    )
    assert f"127.0.0.1:{port}/db" in one_line_error(done, "database_unavailable")


def test_a_database_that_does_not_exist_says_create_it(pg_server: str, tmp_path: Path) -> None:
    url = pg_server.rsplit("/", 1)[0] + "/no_such_database_h13ops"
    line = one_line_error(
        run_cli(["keys", "list"], tmp_path, {"ATTRIBUTION_DATABASE_URL": url}), "database_unavailable"
    )
    assert "no_such_database_h13ops does not exist" in line and "attribution db upgrade" in line


@pytest.mark.parametrize("command", [["keys", "create", "--scope", "admin"], ["period", "list"]])
def test_an_unmigrated_postgres_database_says_run_db_upgrade(
    command: list[str], pg_server: str, tmp_path: Path
) -> None:
    with fresh_database(pg_server) as url:
        done = run_cli(command, tmp_path, {"ATTRIBUTION_DATABASE_URL": url})
    line = one_line_error(done, "database_not_migrated")
    assert "run `attribution db upgrade`" in line
    assert url.rsplit("@", 1)[1] in line  # host:port/database


def test_keys_create_without_a_database_leaves_no_empty_sqlite_file(tmp_path: Path) -> None:
    # the default database_url is sqlite:///attribution.db in the working directory
    done = run_cli(["keys", "create", "--scope", "admin"], tmp_path, {})
    line = one_line_error(done, "database_unavailable")
    assert "no SQLite database at attribution.db" in line and "attribution db upgrade" in line
    assert not (tmp_path / "attribution.db").exists()
    # db upgrade creates it; then the same command works
    assert run_cli(["db", "upgrade"], tmp_path, {}).returncode == 0
    done = run_cli(["keys", "create", "--scope", "admin"], tmp_path, {})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("attr_")


def test_an_unmigrated_sqlite_file_says_run_db_upgrade(tmp_path: Path) -> None:
    import sqlite3

    sqlite3.connect(tmp_path / "old.db").close()  # an empty file: a database without our tables
    done = run_cli(["period", "list"], tmp_path, {"ATTRIBUTION_DATABASE_URL": "sqlite:///old.db"})
    line = one_line_error(done, "database_not_migrated")
    assert "at old.db" in line and "no such table" in line


@pytest.mark.parametrize("command", [["keys", "list"], ["attribute", *WINDOW], ["db", "upgrade"]])
def test_malformed_json_in_a_nested_environment_variable_is_one_line(
    command: list[str], tmp_path: Path
) -> None:
    done = run_cli(command, tmp_path, {"ATTRIBUTION_SCHEDULER": "{bad"})
    line = one_line_error(done, "config_error")
    assert "ATTRIBUTION_SCHEDULER is not valid JSON" in line
    assert "ATTRIBUTION_SCHEDULER__<KEY>=value" in line
    assert not (tmp_path / "attribution.db").exists()


def lines_stored(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(AttributedCost)) or 0


#: name -> (a change to the example configuration, words the one line must hold)
UNPRICED = {
    "empty inventory": (
        lambda text: text.replace('inventory = { "H100-SXM" = 4, "H200-SXM" = 8 }', "inventory = {}"),
        "the inventory has no GPUs, so every line would be $0",
    ),
    "price from later": (
        lambda text: text.replace(
            'usd_per_gpu_hour = "2.99"\neffective_from = 2026-01-01T00:00:00Z',
            'usd_per_gpu_hour = "2.99"\neffective_from = 2026-12-01T00:00:00Z',
        ),
        "GPU type 'H100-SXM' has no price in effect at 2026-11-02T00:00:00Z "
        "(the first starts 2026-12-01T00:00:00Z)",
    ),
    "sampled type not in inventory": (
        lambda text: text.replace(
            'inventory = { "H100-SXM" = 4, "H200-SXM" = 8 }', 'inventory = { "H200-SXM" = 8 }'
        ),
        "GPUs of type 'H100-SXM' were sampled in this window but are not in the inventory",
    ),
}


@pytest.mark.parametrize("case", list(UNPRICED))
def test_attribute_refuses_gpus_without_price_or_inventory(
    case: str, tmp_path: Path, pg_url: str, pg_factory: sessionmaker[Session]
) -> None:
    change, words = UNPRICED[case]
    assert change(EXAMPLE) != EXAMPLE
    store(pg_factory, create_gpu_rows(60, start=T0), [], [])  # four H100s sampled in the window
    config = tmp_path / "attribution.toml"
    config.write_text(change(EXAMPLE))
    done = run_cli(["attribute", *WINDOW], tmp_path, {"ATTRIBUTION_DATABASE_URL": pg_url}, config)
    line = one_line_error(done, "config_error")
    assert words in line and ("[inventory]" in line or "[[gpu_prices]]" in line), line
    assert lines_stored(pg_factory) == 0
    # the premise: the example as it is attributes the same window and writes lines
    config.write_text(EXAMPLE)
    done = run_cli(["attribute", *WINDOW], tmp_path, {"ATTRIBUTION_DATABASE_URL": pg_url}, config)
    assert done.returncode == 0, done.stderr
    assert lines_stored(pg_factory) > 0
