"""Backfill a history file with promtool and serve it from a real Prometheus on a free loopback port.

Kept here until a shared helper exists in ``attribution``; the process is always stopped on exit.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

READY_TIMEOUT_SECONDS = 60.0


def binaries_missing() -> str | None:
    """Why the Prometheus tests cannot run, or None when both binaries are on PATH."""
    missing = [name for name in ("prometheus", "promtool") if shutil.which(name) is None]
    return f"{' and '.join(missing)} not on PATH (Debian: apt-get install prometheus)" if missing else None


def create_blocks(openmetrics: Path, data_dir: Path) -> str:
    """Run promtool's backfill; return its output. Raises CalledProcessError with output on failure."""
    data_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout + done.stderr


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_run(count: int) -> int:
    """A first port such that ``count`` consecutive loopback ports are free (now)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 60_000 - count)
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


@contextmanager
def running_prometheus(data_dir: Path, work_dir: Path, config_text: str | None = None) -> Iterator[str]:
    """Start Prometheus on ``data_dir`` (scraping nothing unless ``config_text`` says so); yield its base
    URL once ``/-/ready`` answers 200."""
    config = work_dir / "prometheus.yml"
    config.write_text(config_text or "global:\n  scrape_interval: 1h\nscrape_configs: []\n", encoding="utf-8")
    port = _free_port()
    log = (work_dir / "prometheus.log").open("w", encoding="utf-8")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=100y",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base_url, process, work_dir / "prometheus.log")
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited early:\n{log_path.read_text()[-4000:]}")
        try:
            if requests.get(f"{base_url}/-/ready", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"prometheus not ready after {READY_TIMEOUT_SECONDS}s")


def query(base_url: str, promql: str) -> list[tuple[dict[str, str], float]]:
    """``/api/v1/query`` (now) as (labels, value) per series."""
    response = requests.post(f"{base_url}/api/v1/query", data={"query": promql}, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return [(item["metric"], float(item["value"][1])) for item in body["data"]["result"]]


def query_range(
    base_url: str, query: str, start: int, end: int, step: int
) -> list[tuple[dict[str, str], list[tuple[int, float]]]]:
    """``/api/v1/query_range`` as (labels, [(unix seconds, value)]) per series."""
    response = requests.post(
        f"{base_url}/api/v1/query_range",
        data={"query": query, "start": start, "end": end, "step": step},
        timeout=60,
    )
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return [
        (item["metric"], [(int(float(t)), float(v)) for t, v in item["values"]])
        for item in body["data"]["result"]
    ]
