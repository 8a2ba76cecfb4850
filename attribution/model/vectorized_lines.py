"""Assembling the vectorised engine's columns into the reference's ``Attribution`` objects.

Every contribution to a line (a split's KV in use and static, a reserved or shared part of idle, an
``__idle__`` or ``__unmeasured__`` amount) is a row (line id, component, amount); the lines are their sums
per line id, as the reference's ``+=`` onto ``Components`` makes them. Sums commute, so the order in which
the reference settles amounts does not matter, only which contributions exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from attribution.model.attribute import LineId
from attribution.model.split import Components, LineKey
from attribution.model.vectorized_kernels import I64, Ints, as_int64, narrowest
from attribution.model.vocabulary import IDLE_KINDS, RECOVERY_COMPONENT, IdleKind

COMPONENTS = ("kv_in_use", "static", *IDLE_KINDS, "unmeasured", RECOVERY_COMPONENT)
"""The order of ``Components``' fields: idle as its three kinds, recovery last."""
ADDED = (*IDLE_KINDS, "unmeasured", RECOVERY_COMPONENT)
"""The components added by amount (each creates its line), after the split lines' KV and static."""
LINES_PER_CHUNK = 1 << 18
"""Lines are built a chunk at a time, so the temporary Python lists stay small next to the dict."""


class Contributions:
    """Contributions collected as columns; line ids are (start index, pool code, key code) packed, in
    int32 where every id fits (a full-fleet day's do: 1,440 starts x 323 pools x 2,124 keys), and each
    array of amounts in the narrowest type that holds it (a full-fleet day collects 16 M of each)."""

    def __init__(self, n_starts: int, n_pools: int, n_keys: int) -> None:
        self.n_pools = n_pools
        self.n_keys = n_keys
        self.id_type = np.int32 if n_starts * n_pools * n_keys <= np.iinfo(np.int32).max else np.int64
        self.present: list[Ints] = []
        self.ids: dict[str, list[Ints]] = {name: [] for name in COMPONENTS}
        self.amounts: dict[str, list[Ints]] = {name: [] for name in COMPONENTS}
        self.read_period = False
        """Whether any amount was settled by a period's scope, or by none with one in its chain: a result
        that the stored weights of the period's other intervals decide (:attr:`LineColumns.read_period`)."""

    def _ids(self, start: I64, pool: I64, key: I64) -> Ints:
        ids: Ints = ((start * self.n_pools + pool) * self.n_keys + key).astype(self.id_type)
        return ids

    def add_split_lines(self, start: I64, pool: I64, key: I64, kv_in_use: I64, static: I64) -> None:
        """A split's lines: they exist (at zero too), as the reference assigns them before settling."""
        ids = self._ids(start, pool, key)
        self.present.append(ids)
        for name, amount in (("kv_in_use", kv_in_use), ("static", static)):
            self.ids[name].append(ids)
            self.amounts[name].append(narrowest(amount))

    def add(self, start: I64, pool: I64, key: I64, component: str, amount: I64) -> None:
        """Non-zero amounts of an idle kind, unmeasured or recovery: each creates its line if need be."""
        self.ids[component].append(self._ids(start, pool, key))
        self.amounts[component].append(narrowest(amount))

    def take_totals(self) -> tuple[Ints, Ints, Ints, list[Ints]]:
        """(start index, pool code, key code) of each line, sorted, and its components (``COMPONENTS``),
        each in the narrowest integer type that holds it.

        Empties the collection as it goes: its arrays are as large as the lines, and the caller builds
        those next. One sort of every id (the lines are its runs) and one index per contribution (its
        line) in place of ``np.unique(return_inverse=True)``, whose five full-length temporaries made the
        peak of a full-fleet day.
        """
        every = [*self.present, *(ids for name in ADDED for ids in self.ids[name])]
        # where each component's ids sit in ``every``: KV and static are the split lines' own ids
        offsets = {"kv_in_use": 0, "static": 0}
        at = sum(a.size for a in self.present)
        for name in ADDED:
            offsets[name] = at
            at += sum(a.size for a in self.ids[name])
        ids = np.concatenate([np.zeros(0, dtype=self.id_type), *every])
        del every
        self.present.clear()
        for id_list in self.ids.values():
            id_list.clear()
        order = np.argsort(ids)
        ids = ids[order]
        new = np.ones(ids.size, dtype=np.bool_)
        np.not_equal(ids[1:], ids[:-1], out=new[1:])
        line_ids = ids[new]
        del ids
        rank: Ints = np.cumsum(new, dtype=np.int32 if new.size <= np.iinfo(np.int32).max else np.int64)
        del new
        np.subtract(rank, 1, out=rank)
        inverse = np.empty_like(rank)
        inverse[order] = rank
        del order, rank
        sums = []
        for name in COMPONENTS:
            amounts = np.concatenate(self.amounts[name]) if self.amounts[name] else _EMPTY
            self.amounts[name].clear()
            index = inverse[offsets[name] : offsets[name] + amounts.size]
            sums.append(_sum_at(line_ids.size, index, amounts))
            del amounts, index
        del inverse
        key = narrowest(line_ids % self.n_keys)
        rest = line_ids // self.n_keys
        del line_ids
        return narrowest(rest // self.n_pools), narrowest(rest % self.n_pools), key, sums


_EMPTY = np.zeros(0, dtype=np.int64)


def _sum_at(n: int, index: Ints, amounts: Ints) -> Ints:
    """Sum ``amounts`` (non-negative) into ``n`` slots; floats only where every partial sum is exact."""
    if amounts.size == 0:
        return narrowest(np.zeros(n, dtype=np.int64))
    if int(amounts.sum(dtype=np.int64)) < 2**53:
        return narrowest(np.bincount(index, weights=amounts, minlength=n))
    out = np.zeros(n, dtype=np.int64)
    np.add.at(out, index, amounts)
    return narrowest(out)


@dataclass(frozen=True, slots=True)
class LineColumns:
    """The lines as columns, sorted by (interval start, pool, tenant, tier): line i is
    ``(interval_start_s[i], pools[pool[i]], *keys[key[i]])`` with its components in micro-USD; ``idle``
    is the exact sum of its three kinds.

    For callers that aggregate lines further (to an hour's grain, a statement): numpy group-bys over
    these arrays avoid building a Python object per line, which is most of the time of a large window.
    The codes and components come from the engine in the narrowest integer type that holds each column
    (a full-fleet day is 12 M lines: 0.9 GB as int64, 0.4 GB so): sum them with ``dtype=np.int64``.
    """

    interval_start_s: I64
    pool: Ints
    key: Ints
    pools: list[str]
    keys: list[LineKey]
    kv_in_use: Ints
    static: Ints
    idle_cold: Ints
    idle_warm: Ints
    kv_headroom: Ints
    unmeasured: Ints
    recovery: Ints
    read_period: bool = field(default=True, kw_only=True)
    """Whether some idle was settled by the period's weights (or found none there): the lines then
    depend on the stored lines of the period's intervals outside the run, and a run after those change
    may settle it differently. The reference engine (the fallback path) does not tell, so True there."""

    @property
    def idle(self) -> I64:
        total: I64 = self.idle_cold.astype(np.int64) + self.idle_warm + self.kv_headroom
        return total

    def idle_part(self, kind: IdleKind) -> Ints:
        part: Ints = getattr(self, kind.value)
        return part

    @classmethod
    def from_totals(
        cls, out: Contributions, starts: I64, pools: list[str], keys: list[LineKey]
    ) -> LineColumns:
        start, pool, key, sums = out.take_totals()
        return cls(starts[start], pool, key, pools, keys, *sums, read_period=out.read_period)

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
