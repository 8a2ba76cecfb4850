"""What every exporter builder produces for one chunk: families of sample rows, each row tied to a target.

A *target* is one scraped endpoint (an engine, a dcgm-exporter host, a gateway): its ``job`` and
``instance`` and any labels service discovery adds at scrape time (Kubernetes ``namespace``, ``pod``). A row
holds one series' samples at the chunk's scrape instants; its labels are the exporter's own, formatted once.
History mode writes exporter labels then target labels on every sample; live mode serves each target's rows
on its own port, without the target labels (Prometheus adds them from the scrape config).

Numbers are spelled as the exporters spell them: ``python_float`` as prometheus_client's ``floatToGoString``
(vLLM, SGLang, LiteLLM: ``1.0``, ``1e+06``), ``go_float`` as client_golang's ``strconv.FormatFloat(v, 'g',
-1, 64)`` (dcgm-exporter, the OpenTelemetry collector: ``1``, ``1e+06``). Bucket ``le`` values are label
strings, so the spelling matters there: Prometheus 2.x stores ``le="1.0"`` and ``le="1"`` as different series.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import numpy as np
import numpy.typing as npt

Labels = tuple[tuple[str, str], ...]
Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Target:
    """A scraped endpoint: ``labels`` are those service discovery adds besides job and instance."""

    job: str
    instance: str
    labels: Labels = ()

    @property
    def label_text(self) -> str:
        return format_labels((("job", self.job), ("instance", self.instance), *self.labels))


@dataclass
class Rows:
    """Series of one sample name: ``values[k, j]`` is series ``index[k]`` at the chunk's scrape j.

    ``labels`` and ``targets`` are the builder's full lists (one entry per series it may ever emit, shared
    across chunks); ``index`` picks the series present in this chunk (None: all of them, in order).
    ``present`` (same shape as ``values``, or broadcast to it) marks the samples that exist; None means all.
    Integer arrays are written as integers.
    """

    sample_name: str
    labels: Sequence[str]
    targets: Sequence[int]
    values: npt.NDArray[np.int64] | npt.NDArray[np.float64]
    index: npt.NDArray[np.int64] | None = None
    present: npt.NDArray[np.bool_] | None = None

    def __post_init__(self) -> None:
        count = len(self.labels) if self.index is None else self.index.size
        if self.values.ndim != 2 or self.values.shape[0] != count:
            raise ValueError(f"{self.sample_name}: values must be (series, scrapes)")
        if self.present is not None and self.present.shape != self.values.shape:
            self.present = np.broadcast_to(self.present, self.values.shape)

    def series(self) -> list[int]:
        return list(range(len(self.labels))) if self.index is None else self.index.tolist()


@dataclass
class HistogramRows:
    """Histogram series of one family: for series k, ``cumulative[k, b, j]`` is bucket b (``les[b]``, the
    last one +Inf) at scrape j and ``sums[k, j]`` the sum. Written per series as its ``_bucket`` rows (``le``
    last among the exporter's labels, as client libraries put it), ``_count`` (= +Inf) and ``_sum``."""

    name: str
    labels: Sequence[str]
    targets: Sequence[int]
    les: Sequence[str]
    cumulative: npt.NDArray[np.int64]
    sums: npt.NDArray[np.float64]
    index: npt.NDArray[np.int64] | None = None
    present: npt.NDArray[np.bool_] | None = None

    def __post_init__(self) -> None:
        count = len(self.labels) if self.index is None else self.index.size
        shape = (count, len(self.les), self.sums.shape[1])
        if self.cumulative.shape != shape or self.sums.shape[0] != count:
            raise ValueError(f"{self.name}: cumulative must be (series, buckets, scrapes)")
        if self.present is not None and self.present.shape != self.sums.shape:
            self.present = np.broadcast_to(self.present, self.sums.shape)

    def series(self) -> list[int]:
        return list(range(len(self.labels))) if self.index is None else self.index.tolist()

    def expand(self) -> list[Rows]:
        """The same samples as plain rows, series by series (for renderers)."""
        rows: list[Rows] = []
        m = self.sums.shape[1]
        n_buckets = len(self.les)
        for k, s in enumerate(self.series()):
            labels = self.labels[s]
            sep = "," if labels else ""
            one = None if self.present is None else self.present[k : k + 1]
            many = None if one is None else np.broadcast_to(one, (n_buckets, m))
            bucket_labels = [f'{labels}{sep}le="{le}"' for le in self.les]
            target = self.targets[s]
            rows.append(
                Rows(
                    f"{self.name}_bucket", bucket_labels, [target] * n_buckets, self.cumulative[k], None, many
                )
            )
            rows.append(Rows(f"{self.name}_count", [labels], [target], self.cumulative[k, -1:], None, one))
            rows.append(Rows(f"{self.name}_sum", [labels], [target], self.sums[k : k + 1], None, one))
        return rows


@dataclass
class Family:
    name: str
    kind: Kind
    help: str
    rows: list[Rows | HistogramRows] = field(default_factory=list)

    @property
    def samples(self) -> int:
        total = 0
        for r in self.rows:
            per_series = len(r.les) + 2 if isinstance(r, HistogramRows) else 1
            if isinstance(r, HistogramRows):
                total += per_series * int(r.sums.size if r.present is None else np.count_nonzero(r.present))
            else:
                total += int(r.values.size if r.present is None else np.count_nonzero(r.present))
        return total


def merge_families(groups: list[list[Family]]) -> list[Family]:
    """Families of several builders merged by name, first appearance first, rows in builder order."""
    merged: dict[str, Family] = {}
    for families in groups:
        for family in families:
            if family.name in merged:
                merged[family.name].rows.extend(family.rows)
            else:
                merged[family.name] = Family(family.name, family.kind, family.help, list(family.rows))
    return list(merged.values())


def format_labels(labels: Labels) -> str:
    return ",".join(f'{name}="{escape_label(value)}"' for name, value in labels)


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def python_float(value: float) -> str:
    """A number as prometheus_client's ``floatToGoString`` writes it (Go's exponent switch included)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(float(value))
    dot = text.find(".")
    if value > 0 and dot > 6:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+0{dot - 1}"
    return text


def go_float(value: float) -> str:
    """A number as Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` writes it: the shortest digits that
    round-trip, in exponent form when the decimal exponent is < -4 or >= 6 (``1e+06``, ``1.048576e+06``)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == 0:
        return "0"
    _, digits, exponent = Decimal(repr(abs(float(value)))).normalize().as_tuple()
    assert isinstance(exponent, int)
    minus = "-" if value < 0 else ""
    decimal_exponent = len(digits) + exponent - 1
    text = "".join(str(d) for d in digits)
    if decimal_exponent < -4 or decimal_exponent >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        sign_char = "+" if decimal_exponent >= 0 else "-"
        return f"{minus}{mantissa}e{sign_char}{abs(decimal_exponent):02d}"
    return minus + format(Decimal(repr(abs(float(value)))).normalize(), "f")
