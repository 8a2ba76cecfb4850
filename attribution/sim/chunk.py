"""The simulated cluster advanced one chunk of time at a time, for history files and live endpoints alike.

``ClusterSim.step(end, scrapes)`` runs every pool's engine over [now, end) and returns a ``Chunk``: the
KV pieces, completions and other events of that range as arrays, and the engines' gauges at the scrape
instants inside it. State (requests in flight, queues) carries over to the next step, so a window cut into
chunks gives the same traffic as one long run. Times are float seconds after the window start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attribution.sim.buckets import tier_names
from attribution.sim.cluster import ClusterSpec
from attribution.sim.engine import PoolEngine
from attribution.sim.integrate import Pieces, sample_pieces
from attribution.sim.records import EngineRecords
from attribution.sim.workload import BoolArray, FloatArray, IntArray, Workload


@dataclass(frozen=True)
class SimContext:
    """What every builder needs to know about a run besides the chunk."""

    spec: ClusterSpec
    start_unix_seconds: int
    tier_boundaries_tokens: tuple[int, ...]
    include_histograms: bool

    @property
    def tier_names(self) -> tuple[str, ...]:
        return tier_names(self.tier_boundaries_tokens)

    @property
    def n_tiers(self) -> int:
        return len(self.tier_boundaries_tokens)


@dataclass(frozen=True)
class Completions:
    """Requests that finished in the chunk. ``arrival`` is when the engine got the request (its last
    attempt), ``gw_arrival`` when the gateway did; ``first_scheduled``/``first_token`` are per attempt."""

    pool: IntArray
    group: IntArray
    gw_arrival: FloatArray
    arrival: FloatArray
    first_scheduled: FloatArray
    first_token: FloatArray
    finish: FloatArray
    prompt: IntArray
    output: IntArray
    capped: BoolArray
    preemptions: IntArray


@dataclass(frozen=True)
class Chunk:
    """One step of the simulation: [begin, end) and the scrape instants inside it.

    running / waiting / blocks / engine_up have one row per pool and one column per scrape. ``blocks`` is
    sum over running requests of ceil(held tokens / block_size). Failures: ``failure_kind`` is engine.LOST
    (the engine died under the request) or engine.REFUSED (sent while the engine was down, fail mode).
    """

    begin: float
    end: float
    scrapes: FloatArray
    scrape_unix: IntArray
    pieces: Pieces
    completions: Completions
    first_token_pool: IntArray
    first_token_group: IntArray
    first_token_time: FloatArray
    first_token_ttft: FloatArray
    failure_pool: IntArray
    failure_group: IntArray
    failure_gw_arrival: FloatArray
    failure_time: FloatArray
    failure_kind: IntArray
    preemption_pool: IntArray
    preemption_time: FloatArray
    preemption_blocks_wanted: IntArray
    running: IntArray
    waiting: IntArray
    blocks: IntArray
    engine_up: BoolArray

    @property
    def n_scrapes(self) -> int:
        return int(self.scrapes.size)


class ClusterSim:
    """The engines of every pool, stepped in this process. ``step`` = ``submit`` + ``result``; the split
    lets ``ProcessClusterSim`` (attribution.sim.parallel) run the next step while the caller works."""

    def __init__(self, context: SimContext, begin_seconds: float) -> None:
        spec = context.spec
        self.context = context
        self.now = begin_seconds
        self._block_size = np.array([p.block_size for p in spec.pools], dtype=np.float64)
        self._down = [
            [(o.at_seconds, o.at_seconds + o.down_seconds) for o in pool.outages] for pool in spec.pools
        ]
        self._pending: list[tuple[float, float, FloatArray]] = []
        self._start_engines(begin_seconds)

    def _start_engines(self, begin_seconds: float) -> None:
        context = self.context
        self.workload = Workload(context.spec, context.start_unix_seconds, context.tier_boundaries_tokens)
        self.engines = [PoolEngine(pool, context.n_tiers, begin_seconds) for pool in context.spec.pools]
        self._records: list[list[EngineRecords]] = []

    def step(self, end: float, scrapes: FloatArray) -> Chunk:
        """Advance to ``end``; ``scrapes`` (sorted, in [now, end)) are the instants gauges are read at."""
        self.submit(end, scrapes)
        return self.result()

    def submit(self, end: float, scrapes: FloatArray) -> None:
        """Start the step to ``end`` (steps are taken in order; ``result`` returns them in order)."""
        begin = self._pending[-1][1] if self._pending else self.now
        self._pending.append((begin, end, scrapes))
        self._run(begin, end, scrapes)

    def _run(self, begin: float, end: float, scrapes: FloatArray) -> None:
        arrivals = self.workload.arrivals(begin, end)
        scrape_list = scrapes.tolist()
        self._records.append(
            [engine.advance(end, scrape_list, arrivals[p]) for p, engine in enumerate(self.engines)]
        )

    def _collect(self) -> list[EngineRecords]:
        return self._records.pop(0)

    def result(self) -> Chunk:
        """The oldest submitted step, as a Chunk."""
        begin, end, scrapes = self._pending.pop(0)
        records = self._collect()
        self.now = end
        pieces = _pieces(records)
        return Chunk(
            begin=begin,
            end=end,
            scrapes=scrapes,
            scrape_unix=np.rint(scrapes).astype(np.int64) + self.context.start_unix_seconds,
            pieces=pieces,
            completions=_completions(records),
            **_events(records),
            running=_gauge(records, "running", scrapes.size),
            waiting=_gauge(records, "waiting", scrapes.size),
            blocks=self._blocks(pieces, scrapes),
            engine_up=self._engine_up(scrapes),
        )

    def close(self) -> None:
        """Release resources (worker processes in ``ProcessClusterSim``)."""

    def _blocks(self, pieces: Pieces, scrapes: FloatArray) -> IntArray:
        n_pools, m = len(self._down), scrapes.size
        piece, when, held = sample_pieces(pieces, scrapes)
        pool = pieces.pool[piece]
        each = np.ceil(held / self._block_size[pool])
        flat = np.bincount(pool * m + when, weights=each, minlength=n_pools * m)
        return np.rint(flat).astype(np.int64).reshape(n_pools, m)

    def _engine_up(self, scrapes: FloatArray) -> BoolArray:
        up = np.ones((len(self._down), scrapes.size), dtype=np.bool_)
        for p, windows in enumerate(self._down):
            for a, b in windows:
                up[p] &= (scrapes < a) | (scrapes >= b)
        return up


def _tables(records: list[EngineRecords], name: str) -> tuple[np.ndarray, IntArray]:
    """Every engine's records of ``name`` stacked, (records, width), and the pool of each record."""
    parts = [r.table(name) for r in records]
    width = EngineRecords.WIDTHS[name]
    table = np.concatenate(parts) if parts else np.zeros((0, width))
    pool = np.repeat(np.arange(len(records), dtype=np.int64), [p.shape[0] for p in parts])
    return table, pool


def _ints(column: np.ndarray) -> IntArray:
    return column.astype(np.int64)


def _gauge(records: list[EngineRecords], name: str, m: int) -> IntArray:
    rows = [np.frombuffer(getattr(r, name), dtype=np.int64) for r in records]
    assert all(row.size == m for row in rows)
    return np.vstack(rows) if rows else np.zeros((0, m), dtype=np.int64)


def _pieces(records: list[EngineRecords]) -> Pieces:
    table, pool = _tables(records, "pieces")
    start, end, held_start, held_end, rate, group = table.T
    return Pieces(start, end, held_start, held_end, rate, pool, _ints(group))


def _completions(records: list[EngineRecords]) -> Completions:
    table, pool = _tables(records, "completions")
    group, gw_arrival, arrival, scheduled, first, finish, prompt, output, capped, preemptions = table.T
    return Completions(
        pool=pool,
        group=_ints(group),
        gw_arrival=gw_arrival,
        arrival=arrival,
        first_scheduled=scheduled,
        first_token=first,
        finish=finish,
        prompt=_ints(prompt),
        output=_ints(output),
        capped=capped.astype(np.bool_),
        preemptions=_ints(preemptions),
    )


def _events(records: list[EngineRecords]) -> dict[str, np.ndarray]:
    first, first_pool = _tables(records, "first_tokens")
    failed, failed_pool = _tables(records, "failures")
    preempted, preempted_pool = _tables(records, "preemptions")
    return {
        "first_token_pool": first_pool,
        "first_token_group": _ints(first[:, 0]),
        "first_token_time": first[:, 1].copy(),
        "first_token_ttft": first[:, 2].copy(),
        "failure_pool": failed_pool,
        "failure_group": _ints(failed[:, 0]),
        "failure_gw_arrival": failed[:, 1].copy(),
        "failure_time": failed[:, 2].copy(),
        "failure_kind": _ints(failed[:, 3]),
        "preemption_pool": preempted_pool,
        "preemption_time": preempted[:, 0].copy(),
        "preemption_blocks_wanted": _ints(preempted[:, 1]),
    }
