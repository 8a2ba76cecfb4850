"""The same OpenMetrics history served by Prometheus or VictoriaMetrics: the collector tests' backends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attribution.localprom import LocalPrometheus, binaries, create_blocks
from tests.support import victoria
from tests.support.services import missing_service
from tests.support.victoria import LocalVictoriaMetrics

BACKENDS = ["prometheus", "victoria"]


def skip_unless_installed(kind: str) -> None:
    if kind == "prometheus":
        try:
            binaries()
        except Exception as exc:  # pragma: no cover - where make test's install step did not run
            missing_service(
                "Prometheus", f"Prometheus is not installed ({exc}); scripts/ensure-prometheus.sh installs it"
            )
    elif victoria.binary() is None:  # pragma: no cover
        missing_service(
            "victoria-metrics",
            "victoria-metrics is not installed; scripts/ensure-prometheus.sh installs it (Debian)",
        )


@contextmanager
def serve(kind: str, openmetrics: Path, work: Path) -> Iterator[str]:
    """Load ``openmetrics`` into a fresh backend of ``kind`` and yield its URL."""
    skip_unless_installed(kind)
    work.mkdir(parents=True, exist_ok=True)
    if kind == "prometheus":
        create_blocks(openmetrics, work / "tsdb")
        with LocalPrometheus(work / "tsdb") as prom:
            yield prom.url
    else:
        with LocalVictoriaMetrics(work / "vm") as vm:
            vm.load_openmetrics(openmetrics)
            yield vm.url
