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
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attribution.collectors.gauges import Texts
from attribution.store.column_copy import ColumnValues, Nulls, take

TEXT = ("gpu_uuid", "part", "hostname", "gpu_model_name", "gpu_type", "pool", "problem")
INTEGERS = ("fb_used_bytes", "fb_free_bytes", "fb_reserved_bytes", "gpu_share_ppm", "power_milliwatts")
FLOATS = ("gpu_util_percent",)


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
