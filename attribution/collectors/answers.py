"""Answers of the Prometheus API turned into series: as points (:class:`Series`), as timestamps only, or as
columns (:class:`SeriesColumns`), each keeping exactly the same samples.

Apart from :mod:`attribution.collectors.prom` (the client: HTTP, retries, error mapping) because parsing
is the collector's hottest Python (docs/collectors.md, "Speed") and has three shapes: points for the
collectors that place series one by one (GPU, KV), timestamps for ``count_over_time`` (only where a series
had a sample matters) and columns for the gateway's counters, whose increases and sums are array
operations. A malformed answer raises ``KeyError``, ``TypeError``, ``ValueError`` or ``AttributeError``;
the client maps them to :class:`~attribution.errors.SourceUnavailableError`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attribution.errors import SourceQueryError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[int, float]]
    """(unix seconds, value), ascending; NaN values are dropped."""


@dataclass(frozen=True, slots=True)
class SeriesColumns:
    """An answer's series as columns: series ``i`` has labels ``labels[i]`` and the points
    ``stamps[offsets[i]:offsets[i + 1]]`` (unix seconds, ascending) with ``values`` alike; the same
    points :func:`series_points` keeps (finite values), without a tuple and a float object per sample."""

    labels: list[dict[str, str]]
    offsets: NDArray[np.int64]
    stamps: NDArray[np.int64]
    values: NDArray[np.float64]

    def series(self, i: int) -> Series:
        """Series ``i`` as points (for the rare series handled one by one)."""
        low, high = int(self.offsets[i]), int(self.offsets[i + 1])
        points = list(zip(self.stamps[low:high].tolist(), self.values[low:high].tolist(), strict=True))
        return Series(self.labels[i], points)


def result_of(data: dict[str, Any], query: str, allowed: set[str], max_series: int | None) -> Any:
    """The answer's ``result``, of an allowed kind and within ``max_series``."""
    kind = data.get("resultType")
    if kind not in allowed:
        raise SourceQueryError(f"{query!r} gave a {kind} result; expected {' or '.join(sorted(allowed))}")
    result = data.get("result")
    if max_series is not None and isinstance(result, list) and len(result) > max_series:
        raise SourceQueryError(
            f"{query!r} answered {len(result)} series, over collection.max_series_per_query = {max_series}: "
            "a label with a value per request or user? Aggregate it away in the profile's query, or raise "
            "the limit"
        )
    return result


_INT = {int}


_STR = {str}


def labels_of(item: dict[str, Any]) -> dict[str, str]:
    """The series' labels as strings: a copy where every value is one already (JSON keys always are),
    the common case, else each value through ``str``."""
    metric = item["metric"]
    if set(map(type, metric.values())) == _STR:
        return dict(metric)
    return dict(zip(map(str, metric), map(str, metric.values()), strict=True))


def parse_floats(texts: list[Any]) -> NDArray[np.float64]:
    """``float(text)`` of each text (its errors, its parse), each distinct text parsed once where an
    answer repeats a few values (a GPU's memory, a counter that did not move: 3 distinct texts in 61,440
    samples of FB_USED at fleet size), else each in turn (a set and a lookup per sample cost more
    than they save when most texts differ)."""
    if len(set(texts[:1024])) * 4 <= min(len(texts), 1024):
        distinct = set(texts)
        if set(map(type, distinct)) == _STR:  # not JSON numbers: 0 and -0.0 would be one key
            parsed = {text: float(text) for text in distinct}
            return np.fromiter(map(parsed.__getitem__, texts), np.float64, len(texts))
    return np.fromiter(map(float, texts), np.float64, len(texts))


def series_points(result: list[dict[str, Any]]) -> tuple[list[Series], int]:
    """The answer's series, and how many infinite values were dropped. Columns first: each series'
    timestamps and values are converted with ``map`` over the whole column (C loops, no Python frame per
    sample), then zipped into points; only a series holding a NaN or an infinity is filtered sample by
    sample. NaN (a staleness marker) and +-Inf (a ratio over zero) are no measurement: dropped, the
    interval counts as missing that series."""
    out, dropped = [], 0
    isfinite = math.isfinite
    for item in result:
        labels = labels_of(item)
        raw = item["values"] if "values" in item else [item["value"]]
        if not raw:
            out.append(Series(labels=labels, points=[]))
            continue
        stamps, texts = zip(*raw, strict=True)
        values = list(map(float, texts))
        if set(map(type, stamps)) != _INT:  # JSON numbers: whole seconds parse as int, and need no round
            stamps = tuple(map(round, stamps))
        points = list(zip(stamps, values, strict=True))
        if not isfinite(sum(values)):  # NaN or +-Inf make the sum so (as may an overflow: then none drop)
            finite = [(ts, v) for ts, v in points if isfinite(v)]
            dropped += len(points) - len(finite) - sum(1 for t in texts if t == "NaN")
            points = finite
        out.append(Series(labels=labels, points=points))
    return out, dropped


def series_columns(result: list[dict[str, Any]]) -> tuple[SeriesColumns, int]:
    """:func:`series_points` as columns, and how many infinite values were dropped: the samples of every
    series in one list (``chain``), their stamps and values taken with ``map`` and converted by numpy, a
    few array operations per answer instead of a tuple and a float object per sample."""
    labels = [labels_of(item) for item in result]
    raws = [item["values"] for item in result]
    lengths = np.fromiter(map(len, raws), np.int64, len(raws))
    flat = list(chain.from_iterable(raws))
    if flat and set(map(len, flat)) != {2}:  # as series_points' unpacking refuses it
        raise ValueError("a sample that is not a [timestamp, value] pair")
    texts = list(map(itemgetter(1), flat))
    values = parse_floats(texts)
    stamp_list = list(map(itemgetter(0), flat))
    if set(map(type, stamp_list)) - _INT:  # as series_points: Python's round of each (half to even)
        stamp_list = list(map(round, stamp_list))
    stamps = np.array(stamp_list, dtype=np.int64)
    nan_texts = texts.count("NaN") if not np.isfinite(values).all() else 0
    return finite_columns(labels, lengths, stamps, values, nan_texts)


def finite_columns(
    labels: list[dict[str, str]],
    lengths: NDArray[np.int64],
    stamps: NDArray[np.int64],
    values: NDArray[np.float64],
    nan_texts: int,
) -> tuple[SeriesColumns, int]:
    """Series of ``lengths`` points as :class:`SeriesColumns` without their NaN and infinite points, and
    how many infinite values were dropped (``nan_texts``: how many values were written ``NaN``, a
    staleness marker, dropped without a word)."""
    dropped = 0
    finite = np.isfinite(values)
    if not finite.all():
        dropped = int((~finite).sum()) - nan_texts
        lengths = kept_lengths(lengths, finite)
        stamps, values = stamps[finite], values[finite]
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return SeriesColumns(labels, offsets, stamps, values), dropped


def kept_lengths(lengths: NDArray[np.int64], kept: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Each series' count of kept points, the points of all series in one column (``kept``)."""
    owner = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    counts: NDArray[np.int64] = np.bincount(owner[kept], minlength=len(lengths)).astype(np.int64)
    return counts


def log_dropped(dropped: int, query: str) -> None:
    if dropped:
        log.warning("dropped %d infinite values from the answer to %r (counted as missing)", dropped, query)


#: How Prometheus writes a value that is no measurement (Go's strconv: NaN, +Inf, -Inf).
NOT_FINITE = frozenset({"NaN", "+Inf", "-Inf", "Inf"})


def series_stamps(result: list[dict[str, Any]]) -> list[tuple[dict[str, str], list[int]]]:
    """Per series its labels and the whole seconds of its finite points (as :func:`series_points` keeps
    them, by the value's text: no float per sample). Each distinct text is parsed once, so an answer
    :func:`series_points` would refuse (a value that is not a number) is refused here too."""
    out = []
    for item in result:
        labels = labels_of(item)
        values = item["values"]
        if values and set(map(len, values)) != {2}:
            raise ValueError("a sample that is not a [timestamp, value] pair")
        texts = set(map(itemgetter(1), values))
        for text in texts:
            float(text)  # ValueError or TypeError: malformed (a count's texts are a handful of numbers)
        if texts.isdisjoint(NOT_FINITE):  # the common case: every point kept, no test per sample
            stamps = list(map(itemgetter(0), values))
        else:
            stamps = [ts for ts, text in values if text not in NOT_FINITE]
        if set(map(type, stamps)) - _INT:
            stamps = list(map(round, stamps))
        out.append((labels, stamps))
    return out
