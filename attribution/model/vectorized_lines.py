"""Assembling the vectorised engine's columns into the reference's ``Attribution`` objects.

Every contribution to a line (a split's KV in use and static, a reserved or shared part of idle, an
``__idle__`` or ``__unmeasured__`` amount) is a row (line id, component, amount); the lines are their sums
per line id, as the reference's ``+=`` onto ``Components`` makes them. Sums commute, so the order in which
the reference settles amounts does not matter, only which contributions exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from attribution.model.attribute import LineId
from attribution.model.split import Components, LineKey
from attribution.model.vectorized_kernels import I64, as_int64
from attribution.model.vocabulary import IDLE_KINDS, RECOVERY_COMPONENT, IdleKind

COMPONENTS = ("kv_in_use", "static", *IDLE_KINDS, "unmeasured", RECOVERY_COMPONENT)
"""The order of ``Components``' fields: idle as its three kinds, recovery last."""
ADDED = (*IDLE_KINDS, "unmeasured", RECOVERY_COMPONENT)
"""The components added by amount (each creates its line), after the split lines' KV and static."""
LINES_PER_CHUNK = 1 << 18
"""Lines are built a chunk at a time, so the temporary Python lists stay small next to the dict."""


class Contributions:
    """Contributions collected as columns; line ids are (start index, pool code, key code) packed."""

    def __init__(self, n_pools: int, n_keys: int) -> None:
        self.n_pools = n_pools
        self.n_keys = n_keys
        self.present: list[I64] = []
        self.ids: dict[str, list[I64]] = {name: [] for name in COMPONENTS}
        self.amounts: dict[str, list[I64]] = {name: [] for name in COMPONENTS}

    def _ids(self, start: I64, pool: I64, key: I64) -> I64:
        ids: I64 = (start * self.n_pools + pool) * self.n_keys + key
        return ids

    def add_split_lines(self, start: I64, pool: I64, key: I64, kv_in_use: I64, static: I64) -> None:
        """A split's lines: they exist (at zero too), as the reference assigns them before settling."""
        ids = self._ids(start, pool, key)
        self.present.append(ids)
        for name, amount in (("kv_in_use", kv_in_use), ("static", static)):
            self.ids[name].append(ids)
            self.amounts[name].append(amount)

    def add(self, start: I64, pool: I64, key: I64, component: str, amount: I64) -> None:
        """Non-zero amounts of an idle kind, unmeasured or recovery: each creates its line if need be."""
        self.ids[component].append(self._ids(start, pool, key))
        self.amounts[component].append(amount)

    def take_totals(self) -> tuple[I64, I64, I64, list[I64]]:
        """(start index, pool code, key code) of each line, sorted, and its components (``COMPONENTS``).

        Empties the collection: its arrays are as large as the lines, and the caller builds those next.
        """
        every = [*self.present, *(ids for name in ADDED for ids in self.ids[name])]
        line_ids, inverse = np.unique(np.concatenate([_EMPTY, *every]), return_inverse=True)
        del every
        # where each component's ids sit in ``every``: KV and static are the split lines' own ids
        offsets = {"kv_in_use": 0, "static": 0}
        at = sum(a.size for a in self.present)
        for name in ADDED:
            offsets[name] = at
            at += sum(a.size for a in self.ids[name])
        sums = []
        for name in COMPONENTS:
            amounts = np.concatenate([_EMPTY, *self.amounts[name]])
            index = inverse[offsets[name] : offsets[name] + amounts.size]
            sums.append(_sum_at(line_ids.size, index, amounts))
            self.amounts[name].clear()
        self.present.clear()
        for ids in self.ids.values():
            ids.clear()
        key = line_ids % self.n_keys
        rest = line_ids // self.n_keys
        return rest // self.n_pools, rest % self.n_pools, key, sums


_EMPTY = np.zeros(0, dtype=np.int64)


def _sum_at(n: int, index: I64, amounts: I64) -> I64:
    """Sum ``amounts`` (non-negative) into ``n`` slots; floats only where every partial sum is exact."""
    if int(amounts.sum()) < 2**53:
        return np.bincount(index, weights=amounts, minlength=n).astype(np.int64)
    out = np.zeros(n, dtype=np.int64)
    np.add.at(out, index, amounts)
    return out


@dataclass(frozen=True, slots=True)
class LineColumns:
    """The lines as columns, sorted by (interval start, pool, tenant, tier): line i is
    ``(interval_start_s[i], pools[pool[i]], *keys[key[i]])`` with its components in micro-USD; ``idle``
    is the exact sum of its three kinds.

    For callers that aggregate lines further (to an hour's grain, a statement): numpy group-bys over
    these arrays avoid building a Python object per line, which is most of the time of a large window.
    """

    interval_start_s: I64
    pool: I64
    key: I64
    pools: list[str]
    keys: list[LineKey]
    kv_in_use: I64
    static: I64
    idle_cold: I64
    idle_warm: I64
    kv_headroom: I64
    unmeasured: I64
    recovery: I64

    @property
    def idle(self) -> I64:
        total: I64 = self.idle_cold + self.idle_warm + self.kv_headroom
        return total

    def idle_part(self, kind: IdleKind) -> I64:
        part: I64 = getattr(self, kind.value)
        return part

    @classmethod
    def from_totals(
        cls, out: Contributions, starts: I64, pools: list[str], keys: list[LineKey]
    ) -> LineColumns:
        start, pool, key, sums = out.take_totals()
        return cls(starts[start], pool, key, pools, keys, *sums)

    @classmethod
    def from_lines(cls, lines: Mapping[LineId, Components]) -> LineColumns:
        """Columns of the reference engine's lines (the fallback path)."""
        ids = sorted(lines)
        pools = sorted({i[1] for i in ids})
        keys = sorted({(i[2], i[3]) for i in ids})
        pool_index = {p: n for n, p in enumerate(pools)}
        key_index = {k: n for n, k in enumerate(keys)}
        comps = [lines[i] for i in ids]
        return cls(
            as_int64([i[0] for i in ids]),
            as_int64([pool_index[i[1]] for i in ids]),
            as_int64([key_index[(i[2], i[3])] for i in ids]),
            pools,
            keys,
            *(as_int64([getattr(c, name) for c in comps]) for name in COMPONENTS),
        )

    def to_dict(self) -> dict[LineId, Components]:
        """The reference's ``lines`` dict (in sorted line-id order), built a chunk at a time."""
        distinct, start = np.unique(self.interval_start_s, return_inverse=True)
        start_names = np.array(distinct.tolist(), dtype=object)  # one int object per distinct start
        pool_names = np.array(self.pools, dtype=object)
        tenants = np.array([k[0] for k in self.keys], dtype=object)
        tiers = np.array([k[1] for k in self.keys], dtype=object)
        lines: dict[LineId, Components] = {}
        for lo in range(0, self.key.size, LINES_PER_CHUNK):
            at = slice(lo, lo + LINES_PER_CHUNK)
            key = self.key[at]
            ids = zip(
                start_names[start[at]].tolist(),
                pool_names[self.pool[at]].tolist(),
                tenants[key].tolist(),
                tiers[key].tolist(),
                strict=True,
            )
            parts = (getattr(self, name)[at].tolist() for name in COMPONENTS)
            lines.update(zip(ids, map(Components, *parts), strict=True))
        return lines
