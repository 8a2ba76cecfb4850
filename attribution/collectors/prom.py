"""A thin Prometheus client: aligned, chunked range queries, with failures mapped to our errors.

Query front-ends (Mimir, Thanos) cache only step-aligned queries, and Prometheus refuses more than 11,000
points per series, so every query here is aligned to its step and split into chunks of at most
``MAX_POINTS_PER_QUERY`` points.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException

from attribution.errors import SourceQueryError, SourceUnavailableError

MAX_POINTS_PER_QUERY = 10_000
_STATUS = re.compile(r"HTTP Status Code (\d{3})")


@dataclass(frozen=True, slots=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[int, float]]
    """(unix seconds, value), ascending."""


def chunks(start: datetime, end: datetime, step_seconds: int) -> Iterator[tuple[datetime, datetime]]:
    """Split ``[start, end)`` into step-aligned chunks of at most MAX_POINTS_PER_QUERY steps."""
    span = timedelta(seconds=step_seconds * MAX_POINTS_PER_QUERY)
    cursor = start
    while cursor < end:
        nxt = min(cursor + span, end)
        yield cursor, nxt
        cursor = nxt


class PromClient:
    def __init__(self, url: str, timeout_seconds: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout_seconds
        self._conn = PrometheusConnect(url=self.url, disable_ssl=True, timeout=int(timeout_seconds))

    def range_query(self, query: str, start: datetime, end: datetime, step_seconds: int) -> list[Series]:
        """Evaluate ``query`` at every step from ``start`` to ``end`` inclusive (both step-aligned)."""
        for t in (start, end):
            if t.tzinfo is None or int(t.timestamp()) % step_seconds:
                raise ValueError(f"{t} is not a UTC time aligned to the {step_seconds}s step")
        if (end - start).total_seconds() / step_seconds > MAX_POINTS_PER_QUERY:
            raise ValueError("range query spans too many points; use chunks()")
        try:
            result = self._conn.custom_query_range(
                query, start_time=start, end_time=end, step=str(step_seconds)
            )
        except requests.RequestException as exc:
            raise SourceUnavailableError(f"Prometheus at {self.url} unreachable: {exc}") from exc
        except PrometheusApiClientException as exc:
            match = _STATUS.search(str(exc))
            status = int(match.group(1)) if match else 0
            if 400 <= status < 500 and status not in (408, 429):
                raise SourceQueryError(f"Prometheus rejected {query!r}: {exc}") from exc
            raise SourceUnavailableError(f"Prometheus at {self.url} failed: {exc}") from exc
        except ValueError as exc:  # a body that is not JSON
            raise SourceUnavailableError(f"Prometheus at {self.url} sent a malformed answer") from exc
        return [_parse(item, query) for item in result]

    def ready(self) -> bool:
        try:
            response = requests.get(f"{self.url}/-/ready", timeout=5)
        except requests.RequestException:
            return False
        return response.status_code == 200


def _parse(item: object, query: str) -> Series:
    try:
        assert isinstance(item, dict)
        labels = {str(k): str(v) for k, v in item["metric"].items()}
        points = [(round(float(ts)), float(value)) for ts, value in item["values"]]
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        raise SourceUnavailableError(f"malformed series in the answer to {query!r}") from exc
    return Series(labels=labels, points=points)


def utc_from_seconds(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)
