"""Simulated histories shared by the simulator tests (each a few seconds to generate and parse).

* ``history``: three hours of the demo cluster (vLLM, dcgm-exporter with ``Hostname``, the native gateway).
* ``mixed``: 30 minutes of the ``mixed`` scenario: every exporter (SGLang, LiteLLM, OpenTelemetry too) and
  dcgm-exporter's later ``hostname`` spelling.
* ``restart``: two hours of the ``restart`` scenario (outages one hour in), without histograms.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from attribution.sim import demo_cluster, scenario
from tests.support.sim_history import END, SCRAPE_INTERVAL_SECONDS, START, History, make_history


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    spec = demo_cluster(seed=7, scrape_interval_seconds=SCRAPE_INTERVAL_SECONDS)
    return make_history(spec, START, END, tmp_path_factory.mktemp("history"))


@pytest.fixture(scope="session")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> History:
    spec = scenario("mixed", seed=3)
    return make_history(spec, END - timedelta(minutes=30), END, tmp_path_factory.mktemp("mixed"))


@pytest.fixture(scope="session")
def restart(tmp_path_factory: pytest.TempPathFactory) -> History:
    spec = scenario("restart", seed=5)
    out = tmp_path_factory.mktemp("restart")
    return make_history(spec, END - timedelta(hours=2), END, out, include_histograms=False)
