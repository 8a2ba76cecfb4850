"""The console served by uvicorn on a free port over the test session's Postgres, seeded with a closed
month and an open one, plus a headless Debian Chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import importlib
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.localprom import free_port
from tests.console.seed import console_settings, seed
from tests.support.api import create_api_key
from tests.support.console import CHROMIUM, Console
from tests.support.services import missing_service


@pytest.fixture
def console(pg_factory: sessionmaker[Session]) -> Iterator[Console]:
    settings = console_settings()
    seed(pg_factory, settings, close=False)
    keys = {
        name: create_api_key(pg_factory, scope)
        for name, scope in (
            ("admin", "admin"),
            ("finance", "finance"),
            ("acme", "tenant:acme-chat"),
            ("globex", "tenant:globex-search"),
        )
    }
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, pg_factory), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the console's server did not start in 20 s")
        time.sleep(0.05)
    try:
        yield Console(f"http://127.0.0.1:{port}", settings, pg_factory, keys)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        missing_service(
            "chromium", "chromium is not installed (scripts/ensure-chromium.sh installs Debian's package)"
        )
    try:
        playwright = importlib.import_module("playwright.sync_api")
    except ImportError as exc:
        missing_service("playwright", f"playwright is not installed ({exc}): pip install -e '.[dev]'")
    with playwright.sync_playwright() as p:
        found = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield found
        found.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    found = context.new_page()
    yield found
    context.close()
