"""Prometheus' own speed for a collection: the very queries it sent, sent again, nothing parsed.

:class:`RecordingClient` is a :class:`PromClient` that remembers every request it sent (path and form);
:func:`fetch_only` sends them again and reads each body whole. Used by bench/collect_ceiling.py and by
the ``collect`` stage of bench/bench_scale.py (scale_stages.py), so both measure the fetch-only ceiling
of issue 14 item 4 the same way, in the same run as the collection it bounds.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from attribution.collectors.prom import PromClient
from attribution.collectors.transport import Reply, transport_for


class RecordingClient(PromClient):
    """A PromClient that remembers every request it sent (path and form), for the fetch-only replay."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, dict[str, str]]] = []
        self._calls_lock = threading.Lock()

    def _send(self, path: str, params: dict[str, str]) -> Reply:
        with self._calls_lock:
            self.calls.append((path, dict(params)))
        return super()._send(path, params)


def fetch_only(url: str, calls: list[tuple[str, dict[str, str]]], concurrency: int) -> tuple[float, int]:
    """Send ``calls`` again (``concurrency`` at a time) through the transport the collector sends them by
    (:func:`~attribution.collectors.transport.transport_for`, keep-alive connections, the same headers,
    gzip included); read each body whole, parse nothing. Seconds and bytes received."""
    transport = transport_for(requests.Session(), url, concurrency)

    def one(call: tuple[str, dict[str, str]]) -> int:
        reply = transport.post(f"{url}{call[0]}", call[1], 300.0)
        if reply.status_code != 200:
            raise RuntimeError(f"HTTP {reply.status_code} replaying {call[1].get('query')!r}")
        return len(reply.content)

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        received = sum(pool.map(one, calls))
    return time.perf_counter() - began, received


def fastest_fetch(
    url: str, calls: list[tuple[str, dict[str, str]]], concurrency: int, repeat: int = 1
) -> tuple[float, int, dict[int, float]]:
    """The best of ``repeat`` replays one query at a time and ``concurrency`` at once: on a loaded 2-core
    machine more at once is not always faster, and the faster way is Prometheus' own speed. Seconds,
    bytes, and the best seconds per concurrency."""
    by_concurrency = {
        n: min(fetch_only(url, calls, n) for _ in range(repeat)) for n in sorted({1, concurrency})
    }
    seconds, received = min(by_concurrency.values())
    return seconds, received, {n: round(v[0], 3) for n, v in by_concurrency.items()}
