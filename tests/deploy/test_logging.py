"""Structured logs: one setup for every entry point; JSON lines carry timestamp, level, logger, message
and the call's extra fields; the API server's own lines go through the same handler."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from attribution.localprom import free_port
from attribution.logging import setup_logging
from attribution.store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_root_logger() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def _parse_instant(text: str) -> datetime:
    assert text.endswith("Z"), text
    instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert instant.utcoffset() is not None and instant.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    return instant


def test_json_lines_carry_the_fields_and_extras(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("json", "INFO")
    before = datetime.now(UTC).replace(microsecond=0)
    logging.getLogger("attribution.test").info(
        "collected %s", "gpu", extra={"rows": 120, "watermark": datetime(2026, 11, 2, tzinfo=UTC)}
    )
    logging.getLogger("attribution.test").debug("below the level")
    line = capsys.readouterr().err.strip()
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "attribution.test"
    assert entry["message"] == "collected gpu"
    assert entry["rows"] == 120
    assert entry["watermark"] == "2026-11-02T00:00:00Z"
    assert before <= _parse_instant(entry["timestamp"]) <= datetime.now(UTC)
    assert "args" not in entry and "levelno" not in entry  # the record's own attributes stay out


def test_an_exception_is_one_json_line_with_its_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("json", "WARNING")
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        logging.getLogger("x").exception("failed")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "ERROR" and "ValueError: bad" in entry["exception"]


def test_text_format_has_utc_timestamps_and_setup_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("json")
    setup_logging("text", "debug")
    logging.getLogger("attribution.test").debug("hello")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # the JSON handler was replaced, not doubled
    stamp, level, rest = err[0].split(" ", 2)
    _parse_instant(stamp)
    assert (level, rest) == ("DEBUG", "attribution.test: hello")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTRIBUTION_")}
    return env | {"ATTRIBUTION_CONFIG": str(tmp_path / "a.toml"), **extra}


def test_the_scheduler_entry_point_logs_json_with_run_fields(tmp_path: Path) -> None:
    """``attribution scheduler --once`` against a source that refuses: every stderr line is JSON."""
    db = tmp_path / "once.db"
    upgrade(f"sqlite:///{db}")
    (tmp_path / "a.toml").write_text(
        f'database_url = "sqlite:///{db}"\n'
        f'[[sources]]\nname = "down"\nurl = "http://127.0.0.1:{free_port()}"\n'
        "[collection.retry]\nattempts = 1\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "attribution.cli", "scheduler", "--once"],
        check=False,
        cwd=tmp_path,
        env=_env(tmp_path, ATTRIBUTION_LOG_FORMAT="json", PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    entries = [json.loads(line) for line in out.stderr.splitlines()]
    runs = {e["collector"]: e for e in entries if e["logger"] == "attribution.scheduler"}
    assert set(runs) == {"gpu", "kv", "gateway", "attribution"}
    assert runs["gpu"]["status"] == "failed" and runs["gpu"]["level"] == "WARNING"
    assert runs["gpu"]["error_kind"] == "source_unavailable"
    assert runs["attribution"]["status"] == "idle" and runs["attribution"]["level"] == "INFO"
    _parse_instant(runs["gpu"]["watermark"])
    # one line per run, each with what the runbook promises (docs/operations.md, "Logs")
    assert len([e for e in entries if e.get("event") == "run"]) == 4
    for run in runs.values():
        assert {"source", "window_start", "window_end", "rows", "duration_seconds", "lag_seconds"} <= set(run)
    assert runs["gpu"]["source"] == "down" and runs["gpu"]["lag_seconds"] >= 0
    assert _parse_instant(runs["gpu"]["next_retry_at"]) > _parse_instant(runs["gpu"]["timestamp"])
    assert "run gpu@down failed (source_unavailable)" in runs["gpu"]["message"]
    assert "next retry at" in runs["gpu"]["message"]


def test_the_api_server_logs_json_including_uvicorn_access_lines(tmp_path: Path) -> None:
    db = tmp_path / "api.db"
    upgrade(f"sqlite:///{db}")
    (tmp_path / "a.toml").write_text(f'database_url = "sqlite:///{db}"\n')
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "attribution.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=_env(tmp_path, ATTRIBUTION_LOG_FORMAT="json", PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None, "the API did not start"
                time.sleep(0.2)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    entries = [json.loads(line) for line in err.splitlines() if line.strip()]
    loggers = {e["logger"] for e in entries}
    assert {"uvicorn.error", "uvicorn.access"} <= loggers, err[-2000:]
    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    assert any("GET /healthz" in e["message"] and "200" in e["message"] for e in access)
