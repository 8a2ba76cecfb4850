"""A throwaway local Prometheus: backfill OpenMetrics history with promtool, serve it on loopback.

Used by ``attribution demo`` and by the tests. Debian ships Prometheus 2.42 as the ``prometheus`` package,
which provides both ``prometheus`` and ``promtool``.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import requests

from attribution.errors import AttributionError

INSTALL_HINT = (
    "Prometheus is not installed. On Debian or Ubuntu: `sudo apt-get install prometheus` "
    "(provides prometheus and promtool, 2.24 or newer); elsewhere put both binaries from "
    "https://prometheus.io/download/ on PATH."
)


class PrometheusMissingError(AttributionError):
    code = "prometheus_missing"


def binaries() -> tuple[str, str]:
    prometheus = shutil.which("prometheus") or _usr_bin("prometheus")
    promtool = shutil.which("promtool") or _usr_bin("promtool")
    if prometheus is None or promtool is None:
        raise PrometheusMissingError(INSTALL_HINT)
    return prometheus, promtool


def _usr_bin(name: str) -> str | None:
    path = Path("/usr/bin") / name
    return str(path) if path.is_file() else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: Where :func:`free_port_run` looks: below Linux's default ephemeral range (32768 up), whose ports a busy
#: machine's outgoing connections hold, so a run found free there stays free.
PORT_RUNS = (20_000, 32_000)


def free_port_run(count: int) -> int:
    """A first port such that ``count`` consecutive loopback ports are free (now): the simulator's
    targets listen on ``base + i``. Drawn at random below the ephemeral range (:data:`PORT_RUNS`); a
    base from ``free_port`` had its neighbours taken by other connections under load."""
    rng = random.Random()  # noqa: S311  # a port to try, not a secret
    low, high = PORT_RUNS
    for _ in range(200):
        base = rng.randrange(low, high - count)
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no run of {count} free ports")


def create_blocks(openmetrics: Path, data_dir: Path, max_block_duration: str = "168h") -> None:
    """Backfill ``openmetrics`` into TSDB blocks in ``data_dir``.

    promtool re-reads the whole file for every block it writes, so with its default 2-hour blocks a week
    costs 84 passes (13 minutes for the demo's week); week-long blocks make it two or three.
    """
    _, promtool = binaries()
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [
            promtool,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            f"--max-block-duration={max_block_duration}",
            str(openmetrics),
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise AttributionError(f"promtool failed on {openmetrics}: {proc.stderr.strip()[-2000:]}")


class LocalPrometheus:
    """``with LocalPrometheus(data_dir) as prom: prom.url``: on a free loopback port, always stopped."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        startup_timeout_seconds: float = 60,
        config_text: str | None = None,
    ) -> None:
        """``config_text``: a prometheus.yml to scrape with (live targets); by default it scrapes nothing."""
        self.data_dir = data_dir
        self.config_text = config_text or "global:\n  scrape_interval: 15s\nscrape_configs: []\n"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._timeout = startup_timeout_seconds
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        prometheus, _ = binaries()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir.parent / f"prometheus-{self.port}.yml"
        config.write_text(self.config_text)
        log = (self.data_dir.parent / f"prometheus-{self.port}.log").open("wb")
        self._proc = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.data_dir}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=100y",
                "--web.enable-admin-api",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise AttributionError(f"Prometheus exited with {self._proc.returncode}; see its log")
            try:
                if requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise AttributionError(f"Prometheus not ready on {self.url} after {self._timeout}s")

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

    def __enter__(self) -> LocalPrometheus:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
