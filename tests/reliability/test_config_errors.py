"""A configuration with errors: every command refuses it with one clear message naming the file or the
keys, exit code 2 and no traceback, before it opens the database: nothing is written, not even a table.

The commands run as an operator runs them (the installed CLI, in its own process, configured by
``ATTRIBUTION_CONFIG`` and ``ATTRIBUTION_*`` variables), against a real, migrated Postgres database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.store.session import make_engine
from attribution.store.tables import Base
from tests.support.postgres import fresh_database

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "deploy" / "attribution.example.toml").read_text()
WINDOW = ["--start", "2026-11-02T00:00:00Z", "--end", "2026-11-02T01:00:00Z"]

#: name -> (a change to the example configuration, words the message must hold)
BROKEN = {
    "not-toml": (
        lambda text: text.replace("chunk_intervals = 1440", 'chunk_intervals = 1440 "days"'),
        "not valid TOML",
    ),
    "bad-values": (
        lambda text: text.replace("interval_seconds = 60 ", "interval_seconds = 7 ").replace(
            'model = "llama-3.1-405b"', 'model = "llama-9000"'
        ),
        "interval_seconds: Input should be greater than or equal to 10; pools.1.model: Value error, "
        "unknown model 'llama-9000'",
    ),
    "misspelt-key": (
        lambda text: text.replace("chunk_intervals = 1440", "chunk_intervalls = 1440"),
        "collection.chunk_intervalls: Extra inputs are not permitted",
    ),
}
COMMANDS = {
    "collect": ["collect", *WINDOW],
    "attribute": ["attribute", *WINDOW],
    "scheduler": ["scheduler", "--once"],
    "serve": ["serve", "--port", "0"],
}


def run_cli(args: list[str], config: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTRIBUTION_")}
    env |= {"ATTRIBUTION_CONFIG": str(config), "ATTRIBUTION_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "attribution.cli", *args],
        cwd=config.parent,
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def row_counts(factory: sessionmaker[Session]) -> dict[str, int]:
    with factory() as session:
        return {
            t.name: session.scalar(select(func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables
        }


def test_the_example_configuration_works(
    tmp_path: Path, pg_url: str, pg_factory: sessionmaker[Session]
) -> None:
    # the premise: each broken file differs from one the same command accepts by the one change
    config = tmp_path / "attribution.toml"
    config.write_text(EXAMPLE)
    done = run_cli(COMMANDS["attribute"], config, pg_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sum(row_counts(pg_factory).values()) > 0
    for name, (change, _) in BROKEN.items():
        assert change(EXAMPLE) != EXAMPLE, name


#: every broken file against the two commands that write, and each other command once (a process each)
CASES = [(b, c) for b in BROKEN for c in ("collect", "scheduler")] + [
    ("bad-values", "attribute"),
    ("not-toml", "serve"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("broken", "command"), CASES)
def test_a_broken_configuration_is_refused_clearly_and_nothing_is_written(
    broken: str, command: str, tmp_path: Path, pg_url: str, pg_factory: sessionmaker[Session]
) -> None:
    change, words = BROKEN[broken]
    config = tmp_path / "attribution.toml"
    config.write_text(change(EXAMPLE))
    done = run_cli(COMMANDS[command], config, pg_url)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "error (config_error)" in done.stderr and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert set(row_counts(pg_factory).values()) == {0}


def test_db_upgrade_with_a_broken_configuration_creates_no_table(tmp_path: Path, pg_server: str) -> None:
    change, words = BROKEN["bad-values"]
    config = tmp_path / "attribution.toml"
    config.write_text(change(EXAMPLE))
    with fresh_database(pg_server) as url:
        done = run_cli(["db", "upgrade"], config, url)
        assert done.returncode == 2 and words in done.stderr, done.stderr
        engine = make_engine(url)
        assert inspect(engine).get_table_names() == []
        engine.dispose()
