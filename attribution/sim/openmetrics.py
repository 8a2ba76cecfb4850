"""OpenMetrics text for backfill with ``promtool tsdb create-blocks-from openmetrics``, written in a stream.

Layout of each file: each family once (``# HELP``, ``# TYPE``, then all its samples), every sample with an
integer timestamp in seconds, each series' samples in ascending time, a final ``# EOF``. Chunks arrive in
time order; each family's numbers go to its own binary spool file as they come (8 bytes a sample instead of
a few hundred of text), and ``close`` renders the text family by family. So a family is contiguous, and a
series' samples ascend through the file: contiguous within a chunk, one run per chunk (promtool does not
need more). promtool 2.42 silently drops a sample older than the previous one of its series, so time order
is the one thing that must be right.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np

from attribution.sim.exposition import Family, HistogramRows, Rows, escape_help
from attribution.sim.workload import IntArray


@dataclass(frozen=True)
class _Spooled:
    """Where one Rows or HistogramRows of one chunk went: its labels stay in memory (the builders' shared
    lists), its arrays are in the family's spool file in this order: index (if any), values (the cumulative
    buckets of a histogram), sums (histograms), present (if any)."""

    chunk: int
    name: str
    labels: Sequence[str]
    targets: Sequence[int]
    les: Sequence[str] | None
    dtype: str
    shape: tuple[int, ...]
    has_index: bool
    has_present: bool


class OpenMetricsSpool:
    """One output file being written: ``add`` chunks in time order, then ``close`` (or ``abandon``)."""

    def __init__(self, path: Path, target_texts: list[str]) -> None:
        self.path = path
        self.targets = target_texts
        self._dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        self._families: dict[str, tuple[Family, Path, BinaryIO, list[_Spooled]]] = {}
        self._stamps: list[list[str]] = []
        self.samples = 0

    def add(self, families: list[Family], scrape_unix: IntArray) -> None:
        chunk = len(self._stamps)
        self._stamps.append([f" {t}\n" for t in scrape_unix.tolist()])
        for family in families:
            samples = family.samples
            if samples == 0:  # a family without children yet: nothing to backfill
                continue
            if family.name not in self._families:
                spool = self._dir / f"{len(self._families):04d}"
                self._families[family.name] = (family, spool, spool.open("wb"), [])
            _, _, handle, entries = self._families[family.name]
            self.samples += samples
            for rows in family.rows:
                entries.append(_spool(handle, chunk, rows))

    def close(self) -> Path:
        with self.path.open("w", encoding="utf-8", newline="\n") as out:
            for family, spool, handle, entries in self._families.values():
                handle.close()
                out.write(f"# HELP {family.name} {escape_help(family.help)}\n")
                out.write(f"# TYPE {family.name} {family.kind}\n")
                with spool.open("rb") as data:
                    for entry in entries:
                        rows = _restore(data, entry)
                        for plain in rows.expand() if isinstance(rows, HistogramRows) else [rows]:
                            write_rows(out, plain, self._stamps[entry.chunk], self.targets)
            out.write("# EOF\n")
        shutil.rmtree(self._dir)
        return self.path

    def abandon(self) -> None:
        for _, _, handle, _ in self._families.values():
            handle.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def _spool(handle: BinaryIO, chunk: int, rows: Rows | HistogramRows) -> _Spooled:
    values = rows.cumulative if isinstance(rows, HistogramRows) else rows.values
    if rows.index is not None:
        np.ascontiguousarray(rows.index, dtype=np.int64).tofile(handle)
    np.ascontiguousarray(values).tofile(handle)
    if isinstance(rows, HistogramRows):
        np.ascontiguousarray(rows.sums, dtype=np.float64).tofile(handle)
    if rows.present is not None:
        np.ascontiguousarray(rows.present).tofile(handle)
    name = rows.name if isinstance(rows, HistogramRows) else rows.sample_name
    les = rows.les if isinstance(rows, HistogramRows) else None
    return _Spooled(
        chunk, name, rows.labels, rows.targets, les, values.dtype.str, values.shape, rows.index is not None,
        rows.present is not None,
    )  # fmt: skip


def _restore(data: BinaryIO, entry: _Spooled) -> Rows | HistogramRows:
    series = entry.shape[0]
    index = np.fromfile(data, dtype=np.int64, count=series) if entry.has_index else None
    values = np.fromfile(data, dtype=np.dtype(entry.dtype), count=int(np.prod(entry.shape))).reshape(
        entry.shape
    )
    if entry.les is not None:
        m = entry.shape[2]
        sums = np.fromfile(data, dtype=np.float64, count=series * m).reshape(series, m)
        present = _present(data, entry, (series, m))
        return HistogramRows(entry.name, entry.labels, entry.targets, entry.les, values, sums, index, present)
    present = _present(data, entry, entry.shape)
    return Rows(entry.name, entry.labels, entry.targets, values, index, present)


def _present(data: BinaryIO, entry: _Spooled, shape: tuple[int, ...]) -> np.ndarray | None:
    if not entry.has_present:
        return None
    return np.fromfile(data, dtype=np.bool_, count=int(np.prod(shape))).reshape(shape)


def write_rows(out: TextIO, rows: Rows, stamps: Sequence[str], targets: Sequence[str]) -> int:
    """Write every present sample of ``rows`` with its target labels and timestamps; return how many.

    Hot loop: one ``join`` over interleaved (prefix, value, timestamp) pieces per series is the fastest
    way CPython has to repeat a long label prefix (LiteLLM's runs to ~500 bytes).
    """
    format_value = str if rows.values.dtype.kind in "iu" else repr
    matrix = rows.values.tolist()
    present = rows.present
    written = 0
    name = rows.sample_name
    for k, s in enumerate(rows.series()):
        labels, target = rows.labels[s], targets[rows.targets[s]]
        prefix = f"{name}{{{labels},{target}}} " if labels else f"{name}{{{target}}} "
        if present is None:
            texts, when = list(map(format_value, matrix[k])), stamps
        else:
            keep = np.flatnonzero(present[k]).tolist()
            row = matrix[k]
            texts, when = [format_value(row[j]) for j in keep], [stamps[j] for j in keep]
        pieces = [prefix] * (3 * len(texts))
        pieces[1::3] = texts
        pieces[2::3] = when
        out.write("".join(pieces))
        written += len(texts)
    return written
