"""The scheduler's own metrics, in the Prometheus text format (0.0.4), on a small HTTP endpoint.

prometheus_client is not a dependency; the handful of series here need only counters and gauges with
labels, rendered on each scrape. Lag is computed at scrape time from the last committed watermark, so it
keeps growing while a collector is stuck, which is what an alert on it needs.

* ``attribution_collector_lag_seconds{collector,source}``: now - watermark (the attribution job too);
* ``attribution_collector_watermark_timestamp_seconds{collector,source}``;
* ``attribution_collector_rows_written_total{collector,source}``;
* ``attribution_collector_runs_total{collector,source,status}``;
* ``attribution_collector_errors_total{collector,source,kind}``;
* ``attribution_collector_run_duration_seconds{collector,source}``: a summary (``_sum``, ``_count``);
* ``attribution_source_request_failures_total{source,kind}``: failed requests, retried ones included;
* ``attribution_budget_spent_ratio{budget,tenant}``, ``attribution_budget_projected_ratio{budget,tenant}``:
  the month's spend and its projection over the budget (``tenant`` absent for the cluster's budget; a
  ``cluster`` label on one cluster's budget), and
  ``attribution_budget_threshold_reached{budget,tenant,kind,threshold}`` (1 per crossing), as of the last
  budget check (after each attribution run, docs/budgets.md);
* ``attribution_budget_webhook_attempts_total{outcome}``: webhook tries, ``delivered`` or ``failed``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from attribution.budgets.check import CheckResult
from attribution.config import DEFAULT_CLUSTER
from attribution.scheduler.outcome import RunOutcome

Labels = tuple[tuple[str, str], ...]
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample(name: str, labels: Labels, value: float) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return f"{name}{{{inner}}} {value!r}\n" if inner else f"{name} {value!r}\n"


class _Family:
    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name, self.kind, self.help = name, kind, help_text
        self.values: dict[Labels, float] = {}

    def render(self, values: dict[Labels, float] | None = None) -> str:
        head = f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.kind}\n"
        items = sorted((values if values is not None else self.values).items())
        return head + "".join(_sample(self.name, labels, value) for labels, value in items)


class CollectorMetrics:
    """Thread-safe: scheduler jobs run in a thread pool and scrapes come from the HTTP thread."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        p = "attribution_collector_"
        self._watermark = _Family(f"{p}watermark_timestamp_seconds", "gauge", "End of the committed window.")
        self._lag = _Family(f"{p}lag_seconds", "gauge", "Seconds between now and the watermark.")
        self._rows = _Family(f"{p}rows_written_total", "counter", "Rows upserted.")
        self._runs = _Family(f"{p}runs_total", "counter", "Runs by outcome.")
        self._errors = _Family(f"{p}errors_total", "counter", "Failed runs by error kind.")
        # one summary family (no quantiles): its _sum and _count samples under one TYPE line
        self._duration_sum = _Family(f"{p}run_duration_seconds", "summary", "Time a run takes.")
        self._duration_count = _Family(f"{p}run_duration_seconds", "summary", "Time a run takes.")
        self._source_failures = _Family(
            "attribution_source_request_failures_total", "counter", "Failed requests to a source."
        )
        b = "attribution_budget_"
        self._spent = _Family(f"{b}spent_ratio", "gauge", "The month's spend over its budget.")
        self._projected = _Family(f"{b}projected_ratio", "gauge", "Projected month-end spend over budget.")
        self._reached = _Family(f"{b}threshold_reached", "gauge", "1 for each threshold reached, by kind.")
        self._attempts = _Family(f"{b}webhook_attempts_total", "counter", "Budget webhook tries by outcome.")

    def _add(self, family: _Family, labels: Labels, by: float) -> None:
        family.values[labels] = family.values.get(labels, 0.0) + by

    def observe(self, outcome: RunOutcome) -> None:
        key: Labels = (("collector", outcome.collector), ("source", outcome.source))
        if outcome.cluster != DEFAULT_CLUSTER:  # a deployment of one cluster keeps its series as they were
            key = (*key, ("cluster", outcome.cluster))
        with self._lock:
            if outcome.watermark is not None:
                self._watermark.values[key] = outcome.watermark.timestamp()
            self._add(self._rows, key, outcome.rows)
            self._add(self._runs, (*key, ("status", outcome.status)), 1)
            if outcome.error_kind is not None:
                self._add(self._errors, (*key, ("kind", outcome.error_kind)), 1)
            self._add(self._duration_sum, key, outcome.duration_seconds)
            self._add(self._duration_count, key, 1)

    def error(self, collector: str, source: str, kind: str) -> None:
        """An error that escaped a run (a bug): counted so that it alerts, then left to the scheduler."""
        with self._lock:
            self._add(self._errors, (("collector", collector), ("source", source), ("kind", kind)), 1)

    def source_failure(self, source: str, kind: str) -> None:
        """One failed request to a source (``PromClient.on_failure``), retried or not."""
        with self._lock:
            self._add(self._source_failures, (("source", source), ("kind", kind)), 1)

    def budgets(self, result: CheckResult) -> None:
        """The gauges of the last budget check replace the previous ones (a budget removed disappears)."""
        spent: dict[Labels, float] = {}
        projected: dict[Labels, float] = {}
        reached: dict[Labels, float] = {}
        for s in result.statuses:
            key: Labels = (("budget", s.budget),) + ((("tenant", s.tenant),) if s.tenant else ())
            key += (("cluster", s.cluster),) if s.cluster else ()  # one cluster's budget
            spent[key] = s.spent_ratio
            if s.projected_ratio is not None:
                projected[key] = s.projected_ratio
            for c in s.crossed:
                reached[(*key, ("kind", c.kind.value), ("threshold", str(c.threshold_percent)))] = 1.0
        with self._lock:
            self._spent.values, self._projected.values, self._reached.values = spent, projected, reached
        self.deliveries(result)

    def deliveries(self, result: CheckResult) -> None:
        """Count a delivery pass's webhook attempts (the gauges are the fire pass's)."""
        failed = result.attempts - len(result.delivered)
        with self._lock:
            self._add(self._attempts, (("outcome", "delivered"),), len(result.delivered))
            self._add(self._attempts, (("outcome", "failed"),), failed)

    def render(self) -> str:
        now = self._clock().timestamp()
        with self._lock:
            lag = {labels: max(now - ts, 0.0) for labels, ts in self._watermark.values.items()}
            families = [
                self._lag.render(lag),
                self._watermark.render(),
                self._rows.render(),
                self._runs.render(),
                self._errors.render(),
                self._summary(self._duration_sum, self._duration_count),
                self._source_failures.render(),
                self._spent.render(),
                self._projected.render(),
                self._reached.render(),
                self._attempts.render(),
            ]
        return "".join(families)

    @staticmethod
    def _summary(sums: _Family, counts: _Family) -> str:
        """``name_sum`` and ``name_count`` samples of a summary family, label set by label set."""
        body = "".join(
            _sample(f"{sums.name}_sum", labels, sums.values[labels])
            + _sample(f"{sums.name}_count", labels, counts.values[labels])
            for labels in sorted(sums.values)
        )
        return f"# HELP {sums.name} {sums.help}\n# TYPE {sums.name} {sums.kind}\n{body}"


def serve_metrics(metrics: CollectorMetrics, host: str, port: int) -> ThreadingHTTPServer:
    """Serve ``/metrics`` from a daemon thread; ``server.shutdown()`` stops it. Port 0 picks a free one."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
