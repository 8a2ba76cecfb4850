"""An OpenMetrics text writer for backfill with ``promtool tsdb create-blocks-from openmetrics``.

Layout: each family once (``# HELP``, ``# TYPE``, then all its samples), each series' samples
contiguous and in ascending time, every sample with an integer timestamp in seconds, and a final
``# EOF``. promtool 2.42 is lenient (it accepts a family split over several places, a counter sample
without ``_total``) but silently drops a sample older than the previous one of its series, so order
is the one thing that must be right; see docs/simulator.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

import numpy as np
import numpy.typing as npt

from attribution.sim.buckets import go_float

Labels = tuple[tuple[str, str], ...]
Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Series:
    """One sample stream: ``values[i]`` is the value at scrape ``first_scrape + i``.

    Integer arrays are written as integers, float arrays with Python's shortest round-trip repr.
    """

    sample_name: str
    labels: Labels
    values: npt.NDArray[np.int64] | npt.NDArray[np.float64]
    first_scrape: int = 0


@dataclass(frozen=True)
class Family:
    name: str
    kind: Kind
    help: str
    series: tuple[Series, ...]


def histogram_series(
    name: str,
    labels: Labels,
    bounds: Sequence[float],
    cumulative: npt.NDArray[np.int64],
    sums: npt.NDArray[np.float64],
    first_scrape: int = 0,
) -> tuple[Series, ...]:
    """``_bucket`` series (one per bound plus +Inf, from ``cumulative`` columns), ``_count``, ``_sum``.

    ``cumulative`` has shape (scrapes, len(bounds) + 1); its last column is +Inf and becomes ``_count``.
    """
    les = [go_float(b) for b in bounds] + ["+Inf"]
    buckets = tuple(
        Series(f"{name}_bucket", (*labels, ("le", le)), cumulative[:, i], first_scrape)
        for i, le in enumerate(les)
    )
    count = Series(f"{name}_count", labels, cumulative[:, -1], first_scrape)
    total = Series(f"{name}_sum", labels, sums, first_scrape)
    return (*buckets, count, total)


def write_openmetrics(
    path: Path, families: Iterable[Family], scrape_unix_seconds: npt.NDArray[np.int64]
) -> int:
    """Write ``families`` to ``path``; return the number of samples written.

    Timestamps come from ``scrape_unix_seconds`` (shared by all series, so formatted once).
    """
    stamps = [str(t) for t in scrape_unix_seconds.tolist()]
    samples = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for family in families:
            out.write(f"# HELP {family.name} {_escape_help(family.help)}\n")
            out.write(f"# TYPE {family.name} {family.kind}\n")
            for series in family.series:
                samples += _write_series(out, series, stamps)
        out.write("# EOF\n")
    return samples


def _write_series(out: TextIO, series: Series, stamps: list[str]) -> int:
    prefix = f"{series.sample_name}{{{format_labels(series.labels)}}} "
    if series.values.dtype.kind in "iu":
        texts = [str(v) for v in series.values.tolist()]
    else:
        texts = [repr(v) for v in series.values.tolist()]
    when = stamps[series.first_scrape : series.first_scrape + len(texts)]
    if len(when) != len(texts):
        raise ValueError(f"{series.sample_name}: more values than scrapes")
    out.write("".join([f"{prefix}{v} {t}\n" for v, t in zip(texts, when, strict=True)]))
    return len(texts)


def format_labels(labels: Labels) -> str:
    return ",".join(f'{name}="{_escape_label(value)}"' for name, value in labels)


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")
