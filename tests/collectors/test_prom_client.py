"""The client against real faults: a proxy in front of a real Prometheus refuses, stalls, fails and lies.

Transient faults (5xx, reset connections, timeouts, truncated bodies, warnings of a partial answer) are
retried with backoff and, if they persist, raised as SourceUnavailableError; a bad query is raised at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from attribution.collectors.prom import PartialAnswerError, PromClient
from attribution.config import RetryConfig
from attribution.errors import SourceQueryError, SourceUnavailableError
from attribution.localprom import LocalPrometheus, free_port
from tests.support.faultproxy import FaultProxy
from tests.support.simulated import START

QUERY = "avg_over_time(DCGM_FI_DEV_GPU_UTIL[59999ms])"
WINDOW = (START + timedelta(minutes=1), START + timedelta(minutes=30))
QUICK = RetryConfig(attempts=4, initial_delay_seconds=0.01, max_delay_seconds=0.05)


@pytest.fixture
def proxy(sim_prometheus: LocalPrometheus) -> Iterator[FaultProxy]:
    with FaultProxy(sim_prometheus.url, slow_seconds=2.0) as p:
        yield p


def client(url: str, retry: RetryConfig = QUICK, timeout: float = 5.0, **kw: object) -> PromClient:
    return PromClient(url, timeout_seconds=timeout, retry=retry, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("fault", ["500", "502", "503", "429", "reset", "truncate", "warning"])
def test_a_transient_fault_is_retried_and_the_answer_is_whole(proxy: FaultProxy, fault: str) -> None:
    expected = client(proxy.url).range_query(QUERY, *WINDOW, 60)
    proxy.faults.extend([fault, fault])
    c = client(proxy.url)
    assert c.range_query(QUERY, *WINDOW, 60) == expected
    assert c.failures == 2
    assert [r.split()[0] for r in proxy.requests[-3:]] == [fault, fault, "pass"]


def test_a_timeout_is_retried(proxy: FaultProxy) -> None:
    expected = client(proxy.url).range_query(QUERY, *WINDOW, 60)
    proxy.faults.append("slow")  # 2 s
    c = client(proxy.url, timeout=1.0)
    assert c.range_query(QUERY, *WINDOW, 60) == expected
    assert c.failures == 1


def test_a_persistent_fault_is_raised_after_the_retries(proxy: FaultProxy) -> None:
    proxy.faults.extend(["503"] * 10)
    c = client(proxy.url)
    seen: list[str] = []
    c.on_failure = seen.append  # what the scheduler counts in its self-metrics
    with pytest.raises(SourceUnavailableError, match="HTTP 503"):
        c.range_query(QUERY, *WINDOW, 60)
    assert c.failures == QUICK.attempts
    assert seen == ["source_unavailable"] * QUICK.attempts
    assert len(proxy.requests) == QUICK.attempts


def test_warnings_make_an_answer_partial_unless_accepted(proxy: FaultProxy) -> None:
    proxy.faults.extend(["warning"] * 10)
    with pytest.raises(PartialAnswerError, match="partial response"):
        client(proxy.url).range_query(QUERY, *WINDOW, 60)
    tolerant = client(proxy.url, accept_warnings=[r"^partial response: store .* unavailable$"])
    assert tolerant.range_query(QUERY, *WINDOW, 60)


def test_a_bad_query_is_not_retried(proxy: FaultProxy) -> None:
    c = client(proxy.url)
    with pytest.raises(SourceQueryError, match="rejected"):
        c.range_query("sum(", *WINDOW, 60)
    assert len(proxy.requests) == 1


def test_connection_refused_is_retried_then_raised() -> None:
    c = client(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SourceUnavailableError, match="unreachable"):
        c.instant_query("up", START)
    assert c.failures == QUICK.attempts


def test_backoff_doubles_up_to_the_cap() -> None:
    delays: list[float] = []
    c = PromClient(
        f"http://127.0.0.1:{free_port()}",
        retry=RetryConfig(attempts=6, initial_delay_seconds=1.0, max_delay_seconds=5.0),
        sleep=delays.append,
    )
    with pytest.raises(SourceUnavailableError):
        c.instant_query("up", START)
    caps = [1.0, 2.0, 4.0, 5.0, 5.0]
    assert len(delays) == 5
    assert all(0 <= d <= cap for d, cap in zip(delays, caps, strict=True))  # full jitter under the cap
