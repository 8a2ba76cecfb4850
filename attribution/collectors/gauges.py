"""Gauges as columns, shared by the GPU and KV collectors: an answer's series folded into a (target,
interval) matrix keeping the largest value where series meet, values rounded as Python's ``round`` does,
and text columns as codes. Where each sample lands is the caller's (:class:`Grid`: the step's grid)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from attribution.collectors.answers import SeriesColumns
from attribution.model.vectorized_kernels import runs
from attribution.store.column_copy import ColumnValues, Names, Nulls

#: The largest magnitude a float converts to int64 exactly after rounding.
_INT64_LIMIT = 2.0**63
#: The answer of a signal the profile does not read.
NO_SERIES = SeriesColumns([], np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0))


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


def largest(
    answer: SeriesColumns, targets: NDArray[np.int64], k: NDArray[np.int64], shape: tuple[int, int]
) -> NDArray[np.float64]:
    """A ``shape`` matrix: for target ``g`` and stamp ``k`` the largest value of the answer's series
    mapped to ``g`` (``targets[i]`` for series ``i``, -1 for none), NaN where none has one; ``k`` is
    each sample's stamp index (-1: none). Where several series meet on one cell the first of the
    largest is kept, as a dict of the largest value seen (``value > seen``) keeps it."""
    n, count = shape
    out = np.full(n * count, np.nan)
    owner = np.repeat(targets, np.diff(answer.offsets))
    use = (owner >= 0) & (k >= 0)
    cells = owner[use] * count + k[use]
    values = answer.values[use]
    if len(distinct(cells)) == len(cells):
        out[cells] = values
    else:  # several series on one cell: in answer order, as the dicts took them
        for cell, value in zip(cells.tolist(), values.tolist(), strict=True):
            seen = out[cell]
            if np.isnan(seen) or value > seen:
                out[cell] = value
    return out.reshape(n, count)


def distinct(values: NDArray[np.int64]) -> NDArray[np.int64]:
    """The distinct values, ascending: ``np.unique(values)`` without the cost of numpy 2's first call,
    which imports ``numpy.ma`` to ask whether the array is masked (12 ms inside the first chunk of every
    ``attribution collect``, a fresh process)."""
    ordered = np.sort(values)
    starts, _ = runs(ordered)
    out: NDArray[np.int64] = ordered[starts]
    return out


def rounded(values: NDArray[np.float64]) -> NDArray[np.int64]:
    """``round(v)`` of each (finite) value as an int64, half to even as Python's ``round``; a value an
    int64 cannot hold is refused, as the database would refuse Python's integer."""
    if len(values) and not (np.abs(values) < _INT64_LIMIT).all():
        raise OverflowError("a reading too large for a bigint column")
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
