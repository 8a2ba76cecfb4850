"""A test that needs a service (Prometheus, VictoriaMetrics, Chromium, podman, a client venv...) skips
when it is missing on a developer's machine, and fails in CI, where a skip would hide an untested path.

CI is recognised by ``CI`` (set by most CI systems) or ``ATTRIBUTION_REQUIRE_SERVICES`` (set by the
Makefile's ``test`` target, which installs the services first), either set to anything but empty, ``0``,
``false`` or ``no``. Skips that depend on the platform rather than on an installed service (a Python
version a tool needs) stay plain ``pytest.skip``/``skipif``.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_VARIABLES = ("CI", "ATTRIBUTION_REQUIRE_SERVICES")


def services_required() -> bool:
    """Whether a missing service is a failure here (CI) rather than a skip (a developer's machine)."""
    return any(
        os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no") for name in REQUIRE_VARIABLES
    )


def require_service(name: str, available: bool, why: str) -> None:
    """Return if ``available``; otherwise skip the test, or fail it where services are required."""
    if not available:
        missing_service(name, why)


def missing_service(name: str, why: str) -> NoReturn:
    """Skip the test for want of ``name`` (``why`` says what is missing and how to install it), or fail
    it where services are required (CI)."""
    if services_required():
        variables = " or ".join(REQUIRE_VARIABLES)
        pytest.fail(f"{why} (the test needs {name}; {variables} is set, so it fails)", pytrace=False)
    pytest.skip(why)
