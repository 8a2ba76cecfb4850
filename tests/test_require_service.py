"""A missing service skips a test on a developer's machine and fails it in CI (tests/support/services.py)."""

from __future__ import annotations

import pytest

from tests.support.services import require_service


@pytest.fixture(autouse=True)
def _outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CI", "ATTRIBUTION_REQUIRE_SERVICES"):
        monkeypatch.delenv(name, raising=False)


def test_an_available_service_lets_the_test_run() -> None:
    require_service("Prometheus", True, "never said")


def test_a_missing_service_skips_outside_ci() -> None:
    with pytest.raises(pytest.skip.Exception, match="install it"):
        require_service("Prometheus", False, "Prometheus is not installed: install it")


@pytest.mark.parametrize(("name", "value"), [("CI", "true"), ("ATTRIBUTION_REQUIRE_SERVICES", "1")])
def test_a_missing_service_fails_where_services_are_required(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(pytest.fail.Exception, match="needs Prometheus"):
        require_service("Prometheus", False, "Prometheus is not installed")


@pytest.mark.parametrize("value", ["", "0", "false", "no"])
def test_a_falsy_setting_still_skips(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception):
        require_service("Prometheus", False, "Prometheus is not installed")
