"""Live mode: the simulation in (scaled) real time, one ``/metrics`` endpoint per simulated target.

Each target (an engine, a dcgm-exporter host, the gateway, LiteLLM, the OTel collector) listens on its own
loopback port, ``port_base + i`` in ``ClusterExporters`` target order, and answers ``GET /metrics`` in the
Prometheus text format (an engine also answers OpenAI ``POST /v1/chat/completions``, see ``openai_api``);
an engine that is down (an outage) answers 503, so Prometheus marks it down and its series go stale, as
with a crashed pod. ``prometheus_config`` writes the scrape configuration that gives
the series the same ``job``/``instance``/``namespace``/``pod`` labels as history mode.

Simulated time runs ``speed`` times faster than the wall clock, from the wall-clock instant the server
starts (after ``warmup_seconds`` of traffic simulated at once, so the cluster opens in steady state). Every
``tick_seconds`` of wall time the simulation advances one tick ahead and publishes each target's exposition
at the tick's first instant: counters count the events strictly before it, gauges are read at it.
"""

from __future__ import annotations

import functools
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from attribution.errors import ConfigError
from attribution.sim import openai_api
from attribution.sim.buckets import DEFAULT_TIER_BOUNDARIES_TOKENS
from attribution.sim.chunk import ClusterSim, SimContext
from attribution.sim.cluster import ClusterSpec
from attribution.sim.exposition import Target
from attribution.sim.registry import ClusterExporters
from attribution.sim.textformat import CONTENT_TYPE, render_targets

LOOPBACK = "127.0.0.1"
MAX_DURATION_SECONDS = 7 * 86_400
#: How often each server checks for shutdown (it bounds how long ``stop`` takes).
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class LiveTarget:
    target: Target
    port: int

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"


class LiveCluster:
    """``with LiveCluster(spec, port_base=9100) as live: ...`` serves until the block ends (or ``stop``)."""

    def __init__(
        self,
        spec: ClusterSpec,
        *,
        port_base: int,
        speed: float = 1.0,
        tick_seconds: float = 1.0,
        warmup_seconds: int = 600,
        include_histograms: bool = True,
    ) -> None:
        if speed <= 0 or tick_seconds <= 0 or warmup_seconds < 0:
            raise ConfigError("speed and tick_seconds must be positive, warmup_seconds >= 0")
        self._spec = spec
        self.start_unix = math.floor(time.time())
        context = SimContext(spec, self.start_unix, DEFAULT_TIER_BOUNDARIES_TOKENS, include_histograms)
        self.exporters = ClusterExporters(context)
        self.targets = [LiveTarget(t, port_base + i) for i, t in enumerate(self.exporters.targets)]
        if self.targets and self.targets[-1].port > 65_535:
            raise ConfigError(f"ports {port_base}..{self.targets[-1].port} do not fit below 65536")
        self._sim = ClusterSim(context, -float(warmup_seconds))
        self._speed, self._tick = speed, tick_seconds
        self._texts: list[str | None] = [None] * len(self.targets)
        self._stop = threading.Event()
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self._wall_zero = 0.0
        self.error: BaseException | None = None
        self.sim_seconds = 0.0
        if warmup_seconds:
            self.exporters.families(self._sim.step(0.0, np.zeros(0)))

    # ------------------------------------------------------------------------------------------ serving
    def start(self) -> None:
        for index, live in enumerate(self.targets):
            server = ThreadingHTTPServer((LOOPBACK, live.port), _handler(self, index))
            server.daemon_threads = True
            self._servers.append(server)
        self._advance(0.0)  # the first snapshot is ready before any port answers
        self._wall_zero = time.monotonic()
        for server in self._servers:
            self._spawn(functools.partial(server.serve_forever, poll_interval=_POLL_SECONDS))
        self._spawn(self._loop)

    def stop(self) -> None:
        self._stop.set()
        # every server at once: each shutdown waits up to a poll interval, one per target in turn adds up
        stoppers = [threading.Thread(target=server.shutdown) for server in self._servers]
        for stopper in stoppers:
            stopper.start()
        for stopper, server in zip(stoppers, self._servers, strict=True):
            stopper.join()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._servers, self._threads = [], []

    def run(self, duration_seconds: float) -> None:
        """Serve for ``duration_seconds`` of wall time (at most a week), then stop."""
        if not 0 < duration_seconds <= MAX_DURATION_SECONDS:
            raise ConfigError(f"duration must be in (0, {MAX_DURATION_SECONDS}] seconds")
        with _stop_on_sigterm(self._stop), self:  # the handler first: a port that answers can be stopped
            self._stop.wait(duration_seconds)
        if self.error is not None:
            raise self.error

    def __enter__(self) -> LiveCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def served_model(self, index: int) -> str | None:
        """The served model name of target ``index`` when it is an engine, else None."""
        if index not in self.exporters.engine_targets:
            return None
        pool = self.exporters.engine_targets.index(index)
        return self._spec.pools[pool].served_model_name

    def snapshot(self, index: int) -> str | None:
        """The current exposition of target ``index``; None while it is down."""
        return self._texts[index]

    def _spawn(self, target: Callable[[], object]) -> None:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self._threads.append(thread)

    # ------------------------------------------------------------------------------------- simulation
    def _loop(self) -> None:
        step = self._tick * self._speed
        next_instant = step
        try:
            while not self._stop.is_set():
                texts = self._compute(next_instant, next_instant + step)
                delay = self._wall_zero + next_instant / self._speed - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                self._texts, self.sim_seconds = texts, next_instant
                next_instant += step
        except BaseException as exc:  # surfaced by run(); the servers keep the last snapshot meanwhile
            self.error = exc
            self._stop.set()

    def _advance(self, instant: float) -> None:
        self._texts = self._compute(instant, instant + self._tick * self._speed)
        self.sim_seconds = instant

    def _compute(self, instant: float, end: float) -> list[str | None]:
        chunk = self._sim.step(end, np.array([instant]))
        texts: list[str | None] = list(
            render_targets(self.exporters.families(chunk), [t.target.job for t in self.targets])
        )
        for p, index in enumerate(self.exporters.engine_targets):
            if not chunk.engine_up[p, 0]:
                texts[index] = None
        return texts

    # -------------------------------------------------------------------------------------- config
    def prometheus_config(self, scrape_interval: str = "1s") -> str:
        """A prometheus.yml scraping every target with the labels history mode gives its series."""
        jobs: dict[str, list[LiveTarget]] = {}
        for live in self.targets:
            jobs.setdefault(live.target.job, []).append(live)
        lines = [
            "global:",
            f"  scrape_interval: {scrape_interval}",
            f"  scrape_timeout: {scrape_interval}",
            "scrape_configs:",
        ]
        for job, members in jobs.items():
            lines += [f"  - job_name: {job}", "    honor_labels: true", "    static_configs:"]
            for live in members:
                labels = {"instance": live.target.instance, **dict(live.target.labels)}
                rendered = ", ".join(f'{k}: "{v}"' for k, v in labels.items())
                lines += [f'      - targets: ["{live.address}"]', f"        labels: {{{rendered}}}"]
        return "\n".join(lines) + "\n"


@contextmanager
def _stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM (``docker stop``, a pod's deletion) stops the servers, then is raised again for the
    handler that was there before (the CLI's: exit at once), as uvicorn does.

    Python leaves SIGTERM at the system's default action, and a container's PID 1 has none: without a
    handler, ``attribution sim serve`` as a container ignored it until the runtime killed it 10 s later.
    Only the main thread may set a handler; elsewhere (a test's thread) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def on_sigterm(signum: int, _frame: object) -> None:
        received.append(signum)
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
    if received:
        signal.raise_signal(signal.SIGTERM)


def _handler(cluster: LiveCluster, index: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self._reply(404, b"not found\n", "text/plain")
                return
            text = cluster.snapshot(index)
            if text is None:
                self._reply(503, b"engine is restarting\n", "text/plain")
                return
            self._reply(200, text.encode(), CONTENT_TYPE)

        def do_POST(self) -> None:
            """An engine also answers OpenAI chat completions (attribution/sim/openai_api.py)."""
            model = cluster.served_model(index)
            if model is None or self.path.split("?")[0] != openai_api.PATH:
                self._reply(404, b"not found\n", "text/plain")
                return
            openai_api.answer(self, model)

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler
