"""Real clients in their own virtualenvs (scripts/ensure-client-venvs.sh, run by ``make services``).

:func:`client_venv` finds one, or skips the test saying why (the reason the install script recorded in
``<venv>/.install-failed``, or that the script never ran); CI runs the script, so there the tests run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import requests

from tests.support.services import missing_service

REPO = Path(__file__).resolve().parents[2]


def client_venv(name: str, executable: str) -> Path:
    """``REPO/<name>/bin/<executable>``, or skip: the install failed (and why) or never ran."""
    venv = REPO / name
    path = venv / "bin" / executable
    if path.is_file():
        return path
    failed = venv / ".install-failed"
    if failed.is_file():
        missing_service(
            name, f"{name}: scripts/ensure-client-venvs.sh could not install it: {failed.read_text()[:600]}"
        )
    missing_service(name, f"{name} is missing: run scripts/ensure-client-venvs.sh (make services runs it)")


def wait_for(what: str, check: Callable[[], bool], timeout_seconds: float = 120) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {timeout_seconds} s")


def prometheus_value(url: str, query: str) -> float | None:
    """The single value of an instant ``query`` on the Prometheus at ``url`` (None while it has none)."""
    answer = requests.get(f"{url}/api/v1/query", params={"query": query}, timeout=10).json()
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None
