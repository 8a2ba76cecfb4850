"""A thin Prometheus-API client: aligned, chunked queries; failures mapped to our errors; retries.

Query front-ends (Mimir, Thanos) cache only step-aligned queries, and Prometheus refuses more than 11,000
points per series, so every range query here is aligned to its step and callers split windows with
:func:`chunks` (at most ``MAX_POINTS_PER_QUERY`` points).

It speaks the HTTP API directly (POST, form-encoded, so long PromQL never hits a URL limit) rather than
through prometheus-api-client (docs/collectors.md, "Why not prometheus-api-client"): that library drops
the answer's ``warnings`` (a Thanos or federated answer that is partial says so only there), sends the
query in the URL even with ``method="POST"``, and retries 5xx on its own beneath ours. The connection is
configured as a ``requests.Session`` from :func:`attribution.collectors.auth.session_for` (token, basic
auth, headers, TLS), the same object that library would take as ``session=``, and sent through urllib3
(:mod:`attribution.collectors.transport`: the session read once, not per query). Failures are classified
once:

* :class:`SourceQueryError` (bad PromQL, too many points, HTTP 4xx, credentials refused with 401/403):
  retrying cannot help, raised at once;
* :class:`SourceUnavailableError` (refused, timed out, HTTP 5xx/408/429, a body that is not JSON) and its
  subclass :class:`PartialAnswerError` (warnings not in ``accept_warnings``): retried with backoff, then
  raised, so the caller does not advance its watermark and a later run resumes.

The same API is served by Prometheus 2.x/3.x and VictoriaMetrics; nothing here depends on which.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import orjson
import requests

from attribution.collectors import sample_text
from attribution.collectors.answers import (
    Series,
    SeriesColumns,
    log_dropped,
    result_of,
    series_columns,
    series_points,
    series_stamps,
)
from attribution.collectors.auth import session_for
from attribution.collectors.transport import Reply, TransportError, transport_for
from attribution.config import RetryConfig, SourceConfig
from attribution.errors import SourceQueryError, SourceUnavailableError
from attribution.model.gcpause import gc_paused

log = logging.getLogger(__name__)

MAX_POINTS_PER_QUERY = 10_000
_RETRYABLE_4XX = frozenset({408, 429})
_RETRYABLE_ERROR_TYPES = frozenset({"timeout", "canceled", "unavailable", "internal"})
#: What parsing a malformed answer raises (answers.py), mapped to SourceUnavailableError.
MALFORMED = (KeyError, IndexError, TypeError, ValueError, AttributeError)
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful answer's ``data``; when it was cut (:func:`~attribution.collectors.sample_text.cut`),
    ``data`` is its skeleton's (every series' ``values`` empty) and ``cut`` holds the samples' text."""

    data: dict[str, Any]
    cut: sample_text.CutAnswer | None
    content: bytes

    def whole(self, query: str) -> Any:
        """The ``result`` of the whole answer parsed as JSON: where the samples' text path declined."""
        if self.cut is None:
            return self.data.get("result")
        try:
            return orjson.loads(self.content)["data"]["result"]
        except (ValueError, KeyError, TypeError) as exc:  # the skeleton parsed: not expected
            raise SourceUnavailableError(f"malformed answer to {query!r}") from exc


class PartialAnswerError(SourceUnavailableError):
    """The source answered, but said (in ``warnings``) that the answer may be incomplete."""

    code = "source_partial_answer"


def chunks(
    start: datetime, end: datetime, step_seconds: int, max_steps: int = MAX_POINTS_PER_QUERY
) -> Iterator[tuple[datetime, datetime]]:
    """Split ``[start, end)`` into step-aligned chunks of at most ``max_steps`` steps."""
    span = timedelta(seconds=step_seconds * min(max_steps, MAX_POINTS_PER_QUERY))
    cursor = start
    while cursor < end:
        nxt = min(cursor + span, end)
        yield cursor, nxt
        cursor = nxt


class PromClient:
    """One source. ``failures`` counts failed attempts (retried or not); ``on_failure``, when set, is
    called with each failure's error code (self-metrics)."""

    def __init__(
        self,
        url: str,
        timeout_seconds: float = 60.0,
        retry: RetryConfig | None = None,
        accept_warnings: Sequence[str] = (),
        sleep: Callable[[float], None] = time.sleep,
        max_series: int | None = None,
        session: requests.Session | None = None,
        name: str | None = None,
        max_concurrent: int = 1,
    ) -> None:
        """``session``: how to reach the source (credentials, headers, TLS); a plain one by default.
        ``max_concurrent``: how many tasks :meth:`map` runs at once (each sends one query at a time)."""
        self.url = url.rstrip("/")
        shown = redact(self.url)
        self._who = f"source {name} at {shown}" if name else f"source at {shown}"
        self._max_series = max_series
        self._timeout = timeout_seconds
        self._timeout_param = f"{round(timeout_seconds * 1000)}ms"  # both Prometheus and VM parse ms
        self._retry = retry or RetryConfig(attempts=1)
        self._accept = [re.compile(p) for p in accept_warnings]
        self._sleep = sleep
        self._http = session if session is not None else requests.Session()
        # a query per map thread, the lanes' own and a readiness check: never a connection discarded
        self._transport = transport_for(self._http, self.url, max(10, max_concurrent + 4))
        self.failures = 0
        self.on_failure: Callable[[str], None] | None = None
        self._max_concurrent = max_concurrent
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_source(
        cls, source: SourceConfig, retry: RetryConfig, max_series: int | None = None
    ) -> PromClient:
        """A client for ``source``; a missing secret or TLS file is a ConfigError naming the setting."""
        return cls(
            source.url,
            source.timeout_seconds,
            retry,
            source.accept_warnings,
            max_series=max_series,
            session=session_for(source.name, source),
            name=source.name,
            max_concurrent=source.max_concurrent_queries,
        )

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(item) for item in items]``, up to ``max_concurrent`` at a time, results in ``items``' order
        (so what a collector sums is summed in the same order whatever finished first); the first failure,
        in that order, is raised. ``fn`` sends its queries through this client and must not call ``map``:
        the pool's threads are the bound on queries in flight to the source."""
        todo = list(items)
        if self._max_concurrent <= 1 or len(todo) <= 1:
            return [fn(item) for item in todo]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max_concurrent, thread_name_prefix="prom-query")
            pool = self._pool
        futures = [pool.submit(fn, item) for item in todo]
        try:
            return [f.result() for f in futures]
        finally:
            for f in futures:  # a failed chunk does not leave the rest of its queries queued
                f.cancel()

    def close(self) -> None:
        """Stop the query threads (they also end with the client); the client stays usable."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def range_query(self, query: str, start: datetime, end: datetime, step_seconds: int) -> list[Series]:
        """Evaluate ``query`` at every step from ``start`` to ``end`` inclusive (both step-aligned)."""
        return _parse(self._range(query, start, end, step_seconds).data, query, {"matrix"}, self._max_series)

    def range_stamps(
        self, query: str, start: datetime, end: datetime, step_seconds: int
    ) -> list[tuple[dict[str, str], list[int]]]:
        """:meth:`range_query` for an answer whose values do not matter, only where each series has one
        (``count_over_time``): per series its labels and the unix seconds of its finite points, without
        a float and a tuple per sample (half the samples a gateway collection parsed)."""
        answer = self._range(query, start, end, step_seconds, cut_values=True)
        result = result_of(answer.data, query, {"matrix"}, self._max_series)
        if answer.cut is not None and (found := sample_text.stamps(result, answer.cut.segments)) is not None:
            return found
        result = answer.whole(query)
        try:
            with gc_paused():
                return series_stamps(result)
        except MALFORMED as exc:
            raise SourceUnavailableError(f"malformed series in the answer to {query!r}") from exc

    def range_columns(self, query: str, start: datetime, end: datetime, step_seconds: int) -> SeriesColumns:
        """:meth:`range_query` as columns (:class:`~attribution.collectors.answers.SeriesColumns`): the
        same points, for callers that work on arrays (the gateway's counters)."""
        answer = self._range(query, start, end, step_seconds, cut_values=True)
        result = result_of(answer.data, query, {"matrix"}, self._max_series)
        if answer.cut is not None and (found := sample_text.columns(result, answer.cut.segments)) is not None:
            log_dropped(found[1], query)
            return found[0]
        result = answer.whole(query)
        try:
            out, dropped = series_columns(result)
        except MALFORMED as exc:
            raise SourceUnavailableError(f"malformed series in the answer to {query!r}") from exc
        log_dropped(dropped, query)
        return out

    def _range(
        self, query: str, start: datetime, end: datetime, step_seconds: int, *, cut_values: bool = False
    ) -> Answer:
        for t in (start, end):
            if t.tzinfo is None or int(t.timestamp()) % step_seconds:
                raise ValueError(f"{t} is not a UTC time aligned to the {step_seconds}s step")
        if (end - start).total_seconds() / step_seconds > MAX_POINTS_PER_QUERY:
            raise ValueError("range query spans too many points; use chunks()")
        params = {
            "query": query,
            "start": str(int(start.timestamp())),
            "end": str(int(end.timestamp())),
            "step": f"{step_seconds}s",
            "timeout": self._timeout_param,
        }
        return self._call("/api/v1/query_range", params, query, cut_values=cut_values)

    def instant_query(self, query: str, at: datetime) -> list[Series]:
        """Evaluate ``query`` at ``at``: one point per series, or raw samples for a range selector."""
        params = {"query": query, "time": f"{at.timestamp():.3f}", "timeout": self._timeout_param}
        data = self._call("/api/v1/query", params, query).data
        return _parse(data, query, {"vector", "matrix"}, self._max_series)

    def ready(self) -> bool:
        try:
            return self._transport.get(f"{self.url}/-/ready", 5.0).status_code == 200
        except TransportError:
            return False

    def _call(self, path: str, params: dict[str, str], query: str, *, cut_values: bool = False) -> Answer:
        attempt = 0
        while True:
            try:
                return self._once(path, params, query, cut_values)
            except SourceUnavailableError as exc:
                self._failed(exc.code)
                attempt += 1
                if attempt >= self._retry.attempts:
                    raise
                delay = random.uniform(0, self._backoff(attempt))  # noqa: S311 - jitter, not crypto
                log.warning("%s; retry %d/%d in %.2fs", exc.detail, attempt, self._retry.attempts - 1, delay)
                self._sleep(delay)
            except SourceQueryError as exc:
                self._failed(exc.code)
                raise

    def _failed(self, code: str) -> None:
        with self._lock:
            self.failures += 1
        if self.on_failure is not None:
            self.on_failure(code)

    def _backoff(self, attempt: int) -> float:
        return float(
            min(self._retry.max_delay_seconds, self._retry.initial_delay_seconds * 2 ** (attempt - 1))
        )

    def _send(self, path: str, params: dict[str, str]) -> Reply:
        """POST the form; transport and credential failures become our errors (never the secret)."""
        try:
            response = self._transport.post(f"{self.url}{path}", params, self._timeout)
        except TransportError as exc:
            if exc.tls:
                raise SourceUnavailableError(
                    f"{self._who}: TLS handshake failed ({_reason(str(exc))}); if it uses a private CA, set "
                    "tls.ca_file (and tls.cert_file/key_file if it wants a client certificate)"
                ) from exc
            raise SourceUnavailableError(f"{self._who} unreachable: {exc}") from exc
        if response.status_code in (401, 403):
            raise SourceQueryError(
                f"{self._who} refused the credentials (HTTP {response.status_code}): check the source's "
                "bearer_token_env/bearer_token_file or basic_auth, and headers such as X-Scope-OrgID"
            )
        if 300 <= response.status_code < 400 and response.location:
            raise SourceQueryError(
                f"{self._who} redirects (HTTP {response.status_code}) to {redact(response.location)!r}: "
                "set the source's url to where it redirects"
            )
        return response

    def _json(self, response: Reply, query: str, text: bytes) -> dict[str, Any]:
        """The JSON object ``text`` (the answer, or its skeleton); a body that is not one is malformed
        (retried), or, on a 4xx, a gateway in front refusing (not retried; its body, which may echo the
        credential, is never shown)."""
        try:
            body = orjson.loads(text)
            assert isinstance(body, dict)
        except (ValueError, AssertionError):
            if 400 <= response.status_code < 500 and response.status_code not in _RETRYABLE_4XX:
                raise SourceQueryError(
                    f"{self._who} answered HTTP {response.status_code} with no Prometheus API answer to "
                    f"{query!r}: a gateway in front refusing the request? Check the source's credentials "
                    "and headers"
                ) from None
            raise SourceUnavailableError(
                f"{self._who} sent a malformed answer (HTTP {response.status_code}) to {query!r}"
            ) from None
        return body

    def _once(self, path: str, params: dict[str, str], query: str, cut_values: bool) -> Answer:
        """One request's answer. ``cut_values``: parse the answer's skeleton only, its samples kept as
        text for :mod:`~attribution.collectors.sample_text` (the whole answer if it cannot be cut, or its
        skeleton is no JSON: then the whole answer's JSON decides, as without cutting)."""
        response = self._send(path, params)
        content = response.content
        cut = sample_text.cut(content) if cut_values and response.status_code == 200 else None
        try:
            body = self._json(response, query, cut.skeleton if cut is not None else content)
        except SourceUnavailableError:
            if cut is None:
                raise
            cut, body = None, self._json(response, query, content)
        status = response.status_code
        if status >= 400 or body.get("status") != "success":
            error_type = str(body.get("errorType", ""))
            detail = f"HTTP {status} {error_type}: {body.get('error', '')}".strip()
            if (
                400 <= status < 500
                and status not in _RETRYABLE_4XX
                and error_type not in _RETRYABLE_ERROR_TYPES
            ):
                raise SourceQueryError(f"{self._who} rejected {query!r}: {detail}")
            raise SourceUnavailableError(f"{self._who} failed on {query!r}: {detail}")
        warnings = [str(w) for w in body.get("warnings") or []]
        unaccepted = [w for w in warnings if not any(p.search(w) for p in self._accept)]
        if unaccepted:
            raise PartialAnswerError(f"{self._who} answered {query!r} partially: {unaccepted[0]}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise SourceUnavailableError(f"{self._who} sent no data for {query!r}")
        return Answer(data, cut, content)


def _parse(
    data: dict[str, Any], query: str, allowed: set[str], max_series: int | None = None
) -> list[Series]:
    """Series of points with finite values (:func:`~attribution.collectors.answers.series_points`)."""
    result = result_of(data, query, allowed, max_series)
    try:
        with gc_paused():
            out, dropped = series_points(result)
    except MALFORMED as exc:
        raise SourceUnavailableError(f"malformed series in the answer to {query!r}") from exc
    log_dropped(dropped, query)
    return out


def redact(url: str) -> str:
    """``url`` without the credentials it may carry (``https://user:secret@host``): for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _reason(text: str) -> str:
    """The innermost reason of a TLS failure (e.g. ``CERTIFICATE_VERIFY_FAILED``), without the URL."""
    found = re.search(r"\[SSL[^\]]*\][^'\")]*", text)
    return found.group(0).strip() if found else text[-200:]


@functools.lru_cache(maxsize=1 << 16)
def utc_from_seconds(ts: int) -> datetime:
    """Cached: a chunk asks for its few interval starts once per row (datetimes are immutable)."""
    return datetime.fromtimestamp(ts, tz=UTC)
