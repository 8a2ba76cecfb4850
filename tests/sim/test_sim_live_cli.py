"""Live endpoints behave like the real ones (503 while an engine restarts), and the ``sim`` CLI works."""

from __future__ import annotations

import re
import time
from pathlib import Path

import requests
from typer.testing import CliRunner

from attribution.sim import scenario
from attribution.sim.cli import app
from attribution.sim.live import LiveCluster
from attribution.sim.textformat import CONTENT_TYPE
from tests.sim.prom import free_port_run

TOKENS = re.compile(r"^vllm:prompt_tokens_total\{[^}]*\} (\S+)$", re.MULTILINE)


def test_a_restarting_engine_answers_503_then_returns_with_its_counters_at_zero() -> None:
    spec = scenario("restart", seed=1, at_seconds=40.0)  # the queued pool is down for 300 simulated s
    live = LiveCluster(spec, port_base=free_port_run(8), speed=200.0, warmup_seconds=1800)
    engine, dcgm = live.targets[0], next(t for t in live.targets if t.target.job == "dcgm-exporter")
    seen: list[tuple[int, float | None]] = []
    with live:
        assert requests.get(f"http://{engine.address}/other", timeout=5).status_code == 404
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and not (seen and seen[-1][0] == 200 and 503 in dict(seen)):
            response = requests.get(f"http://{engine.address}/metrics", timeout=5)
            value = None
            if response.status_code == 200:
                assert response.headers["Content-Type"] == CONTENT_TYPE
                value = float(TOKENS.search(response.text).group(1))  # type: ignore[union-attr]
            seen.append((response.status_code, value))
            assert requests.get(f"http://{dcgm.address}/metrics", timeout=5).status_code == 200
            time.sleep(0.02)
    statuses = [s for s, _ in seen]
    first_down = statuses.index(503)
    back = first_down + statuses[first_down:].index(200)
    assert 200 in statuses[:first_down] and statuses[-1] == 200
    before, after = seen[first_down - 1][1], seen[back][1]
    assert before is not None and after is not None and after < before


def test_the_history_command_writes_one_file_per_hour(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["history", "--scenario", "small", "--start", "2026-11-01T00:00:00Z", "--end", "2026-11-01T02:00:00Z",
         "--out", str(tmp_path), "--split", "hour", "--no-histograms", "--warmup-seconds", "600"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.glob("*.om")) == [
        "history-20261101T000000Z.om",
        "history-20261101T010000Z.om",
    ]
    assert (tmp_path / "truth.json").exists() and "samples" in result.output


def test_the_serve_command_stops_by_itself_and_writes_a_scrape_config(tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    began = time.monotonic()
    result = CliRunner().invoke(
        app,
        ["serve", "--scenario", "demo", "--port-base", str(free_port_run(5)), "--duration", "1.5",
         "--prometheus-config", str(config), "--scrape-interval", "5s", "--warmup-seconds", "60"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert time.monotonic() - began < 10
    text = config.read_text()
    assert (
        "job_name: vllm" in text
        and "job_name: dcgm-exporter" in text
        and 'instance: "llama-405b-0:8000"' in text
    )


def test_sim_serve_stops_cleanly_on_sigterm() -> None:
    """SIGTERM (a container runtime's stop) stops the servers, then the CLI exits at once with 128 + 15.
    Without a handler Python dies of the signal (-15) and, as a container's PID 1, ignores it until the
    runtime kills it 10 s later (scripts/image-smoke.sh measures that case in the image)."""
    import signal
    import subprocess
    import sys

    port = free_port_run(5)
    proc = subprocess.Popen(
        [sys.executable, "-m", "attribution.cli", "sim", "serve", "--port-base", str(port),
         "--duration", "600", "--warmup-seconds", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/metrics", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            raise AssertionError("sim serve never answered")
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=10)
        stopped_s = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 143, err  # exited by itself (SystemExit), not killed by the signal (-15)
    assert stopped_s < 5, stopped_s  # a second or less on an idle machine; the image test holds to 1 s
    try:
        requests.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
        raise AssertionError("the port still answers")
    except requests.ConnectionError:
        pass
