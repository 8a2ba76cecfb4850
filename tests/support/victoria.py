"""A throwaway VictoriaMetrics (Debian's ``victoria-metrics``) loaded with the simulator's history.

VictoriaMetrics imports Prometheus exposition text with millisecond timestamps on
``/api/v1/import/prometheus``; the simulator writes OpenMetrics with second timestamps for promtool, so
:func:`openmetrics_to_import` converts (drops comments and ``# EOF``, multiplies timestamps by 1000).
The query cache is off: it would hide samples imported after a query for the same window.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

import requests

from attribution.localprom import free_port

IMPORT_BATCH_BYTES = 8 << 20


def binary() -> str | None:
    return shutil.which("victoria-metrics") or shutil.which("victoria-metrics-prod")


def openmetrics_to_import(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if not line or line.startswith("#"):
            continue
        head, _, ts = line.rstrip("\n").rpartition(" ")
        yield f"{head} {int(float(ts) * 1000)}\n"


class LocalVictoriaMetrics:
    """``extra_args`` (e.g. ``-tls``, ``-httpAuth.*``) go on its command line; ``session`` is how this
    helper reaches it then (credentials, CA), and ``https`` whether it serves TLS."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        session: requests.Session | None = None,
        https: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"{'https' if https else 'http'}://127.0.0.1:{self.port}"
        self._extra = list(extra_args)
        self._http = session or requests.Session()
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = binary()
        if exe is None:
            raise RuntimeError("victoria-metrics is not installed (apt-get install victoria-metrics)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir.parent / f"victoria-{self.port}.log").open("wb")
        self._proc = subprocess.Popen(
            [
                exe,
                f"-storageDataPath={self.data_dir}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                "-retentionPeriod=100y",
                "-search.disableCache",
                "-search.latencyOffset=0s",
                *self._extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self._get("/health", 1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"VictoriaMetrics not ready on {self.url}")

    def load_openmetrics(self, path: Path) -> None:
        batch: list[str] = []
        size = 0
        with path.open() as fh:
            for line in openmetrics_to_import(fh):
                batch.append(line)
                size += len(line)
                if size >= IMPORT_BATCH_BYTES:
                    self._post("".join(batch))
                    batch, size = [], 0
        if batch:
            self._post("".join(batch))
        self._get("/internal/force_flush", 30).raise_for_status()

    def _get(self, path: str, timeout: float) -> requests.Response:
        return self._http.get(f"{self.url}{path}", timeout=timeout, verify=self._http.verify)

    def _post(self, text: str) -> None:
        response = self._http.post(
            f"{self.url}/api/v1/import/prometheus", data=text.encode(), timeout=120, verify=self._http.verify
        )
        response.raise_for_status()

    @property
    def running(self) -> bool:
        """Started and not stopped since (a test may stop it for an outage and start it again)."""
        return self._proc is not None

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def __enter__(self) -> LocalVictoriaMetrics:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
