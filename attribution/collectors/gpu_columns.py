"""GPU rows as columns: the common GPU (one FB_USED series, neither a MIG instance nor shared) placed for
every interval at once, and every row, however placed, handed to the writer as columns.

At 1,024 GPUs a chunk of 60 intervals is 61,440 GPU-intervals, nearly all of them whole GPUs whose one
part is the GPU itself (:func:`~attribution.collectors.gpu_units.whole_gpu`). Grouping each sample per
(GPU, interval) in dicts, a frozen ``Reading``, a dict row and then the COPY's ``write_row`` per row were
a quarter of a collection's Python (docs/performance.md). Here a whole GPU's samples stay in the answer's
columns: its other gauges (free, reserved, utilisation, power) are looked up by (GPU, interval) in a
matrix, filled with the largest value where series meet on one cell (as the dicts kept the largest), and
its rows are arrays. The rare GPUs placed one by one (MIG, shared, several series) keep the dict code of
:mod:`attribution.collectors.gpu`; their rows join the others as columns (:class:`RowsAsColumns`) and all
rows come out in the table's key order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attribution.collectors.answers import SeriesColumns
from attribution.store.column_copy import ColumnValues, Names, Nulls, take

#: The largest magnitude a float converts to int64 exactly after rounding.
_INT64_LIMIT = 2.0**63
TEXT = ("gpu_uuid", "part", "hostname", "gpu_model_name", "gpu_type", "pool", "problem")
INTEGERS = ("fb_used_bytes", "fb_free_bytes", "fb_reserved_bytes", "gpu_share_ppm", "power_milliwatts")
FLOATS = ("gpu_util_percent",)


@dataclass(frozen=True, slots=True)
class Grid:
    """The answers' timestamps ``first, first + step, ... last``: interval k ends at ``first + k step``."""

    first: int
    step: int
    count: int

    def index(self, stamps: NDArray[np.int64]) -> NDArray[np.int64]:
        """Each stamp's ``k``, -1 for a stamp off the grid."""
        k = (stamps - self.first) // self.step
        on = ((stamps - self.first) % self.step == 0) & (k >= 0) & (k < self.count)
        return np.where(on, k, -1)


def largest(answer: SeriesColumns, targets: NDArray[np.int64], grid: Grid, n: int) -> NDArray[np.float64]:
    """An ``(n, grid.count)`` matrix: for target ``g`` and interval ``k`` the largest value of the
    answer's series mapped to ``g`` (``targets[i]`` for series ``i``, -1 for none), NaN where none has
    one. Where several series meet on one cell the first of the largest is kept, as a dict of the
    largest value seen (``value > seen``) keeps it."""
    out = np.full(n * grid.count, np.nan)
    owner = np.repeat(targets, np.diff(answer.offsets))
    k = grid.index(answer.stamps)
    use = (owner >= 0) & (k >= 0)
    cells = owner[use] * grid.count + k[use]
    values = answer.values[use]
    if len(np.unique(cells)) == len(cells):
        out[cells] = values
    else:  # several series on one cell: in answer order, as the dicts took them
        for cell, value in zip(cells.tolist(), values.tolist(), strict=True):
            seen = out[cell]
            if np.isnan(seen) or value > seen:
                out[cell] = value
    return out.reshape(n, grid.count)


def rounded(values: NDArray[np.float64]) -> NDArray[np.int64]:
    """``round(v)`` of each (finite) value as an int64, half to even as Python's ``round``; a value an
    int64 cannot hold is refused, as the database would refuse Python's integer."""
    if len(values) and not (np.abs(values) < _INT64_LIMIT).all():
        raise OverflowError("a GPU reading too large for a bigint column")
    return np.rint(values).astype(np.int64)


def nullable_ints(values: NDArray[np.float64]) -> Nulls:
    """Rounded values, NULL where NaN (no reading)."""
    null = np.isnan(values)
    out = np.zeros(len(values), dtype=np.int64)
    out[~null] = rounded(values[~null])
    return Nulls(out, null)


class Texts:
    """The distinct strings of one text column, each given a code once (None: -1, NULL)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._codes: dict[str, int] = {}

    def code(self, value: str | None) -> int:
        if value is None:
            return -1
        found = self._codes.get(value)
        if found is None:
            found = self._codes[value] = len(self.names)
            self.names.append(value)
        return found

    def codes(self, values: Sequence[str | None]) -> NDArray[np.int64]:
        return np.fromiter(map(self.code, values), np.int64, len(values))

    def column(self, codes: NDArray[np.int64]) -> ColumnValues:
        """The column of these codes: names by code, wrapped in :class:`Nulls` where a code is -1."""
        null = codes < 0
        names = Names(np.where(null, 0, codes), self.names)
        return Nulls(names, null) if null.any() else names

    def rank(self) -> NDArray[np.int64]:
        """Each code's place in code-point order of the names."""
        out = np.empty(len(self.names), dtype=np.int64)
        out[sorted(range(len(self.names)), key=self.names.__getitem__)] = np.arange(len(self.names))
        return out


class RowsAsColumns:
    """``gpu_samples`` rows gathered in pieces (arrays of whole GPUs' rows, or dict rows), then given as
    columns in key order: (interval, GPU, part), text by code point."""

    def __init__(self) -> None:
        self.texts = {name: Texts() for name in TEXT}
        self._pieces: list[dict[str, NDArray[Any]]] = []

    def add_arrays(self, columns: dict[str, NDArray[Any]]) -> None:
        """Rows as arrays: ``interval_start`` (unix s), text as codes of :attr:`texts`, integers as int64
        and floats as float64, each with a ``<name>_null`` mask where it may be NULL."""
        self._pieces.append(columns)

    def add_dicts(self, rows: Sequence[dict[str, Any]], seconds: Callable[[Any], int]) -> None:
        """Dict rows (``interval_start`` a datetime, turned to unix s by ``seconds``)."""
        if not rows:
            return
        piece: dict[str, NDArray[Any]] = {
            "interval_start": np.fromiter((seconds(r["interval_start"]) for r in rows), np.int64, len(rows))
        }
        for name in TEXT:
            piece[name] = self.texts[name].codes([r[name] for r in rows])
        for name in (*INTEGERS, *FLOATS):
            found = [r[name] for r in rows]
            null = np.array([v is None for v in found], dtype=bool)
            kind = np.float64 if name in FLOATS else np.int64
            piece[name] = np.array([0 if v is None else v for v in found], dtype=kind)
            piece[f"{name}_null"] = null
        self._pieces.append(piece)

    def columns(self) -> tuple[dict[str, ColumnValues], int]:
        """Every row, as the writer's columns, sorted by the table's key."""
        if not self._pieces:
            return {}, 0
        joined = {name: np.concatenate([p[name] for p in self._pieces]) for name in self._pieces[0]}
        starts = joined["interval_start"]
        uuid_rank = self.texts["gpu_uuid"].rank()[joined["gpu_uuid"]]
        part_rank = self.texts["part"].rank()[joined["part"]]
        order = np.lexsort((part_rank, uuid_rank, starts))
        out: dict[str, ColumnValues] = {"interval_start": starts[order]}
        for name in TEXT:
            out[name] = take(self.texts[name].column(joined[name]), order)
        for name in (*INTEGERS, *FLOATS):
            null = joined[f"{name}_null"][order]
            values = joined[name][order]
            out[name] = Nulls(values, null) if null.any() else values
        return out, len(starts)
