"""The model's hand-computed tests run on both engines: the reference and the vectorised one."""

from __future__ import annotations

import pytest

from tests.support.engines import ENGINES, WindowEngine


@pytest.fixture(scope="session", params=list(ENGINES))
def engine_impl(request: pytest.FixtureRequest) -> WindowEngine:
    """``attribute_window`` of each engine in turn (session-scoped, so Hypothesis tests may take it)."""
    return ENGINES[request.param]
