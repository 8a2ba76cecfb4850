"""The engines in worker processes, one step ahead of the caller: a history's exposition and writing (in
the caller) overlap with the next chunk's simulation (in the workers).

Pools are independent given their arrivals, and arrivals are drawn per (tenant, epoch), so a worker that
owns some pools draws only their tenants and gets exactly the requests the single-process run would:
``ProcessClusterSim`` produces the same chunks as ``ClusterSim``. Workers are forked where the platform
can (instant, and no ``if __name__ == "__main__"`` guard needed in the caller's script; history runs hold
no threads or locks to inherit), else spawned.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np

from attribution.errors import ConfigError
from attribution.sim.chunk import ClusterSim, SimContext
from attribution.sim.engine import PoolEngine
from attribution.sim.records import EngineRecords
from attribution.sim.workload import FloatArray, Workload

JOIN_SECONDS = 30.0


class ProcessClusterSim(ClusterSim):
    """``ClusterSim`` with the pools spread over ``workers`` processes (balanced by request rate)."""

    def __init__(self, context: SimContext, begin_seconds: float, workers: int) -> None:
        if workers < 1:
            raise ConfigError("workers must be >= 1")
        self._workers = workers
        super().__init__(context, begin_seconds)

    def _start_engines(self, begin_seconds: float) -> None:
        spec = self.context.spec
        load = [0.0] * len(spec.pools)
        index = {pool.name: p for p, pool in enumerate(spec.pools)}
        for tenant in spec.tenants:
            load[index[tenant.pool]] += tenant.requests_per_second + 1e-6
        shares: list[set[int]] = [set() for _ in range(min(self._workers, len(spec.pools)))]
        totals = [0.0] * len(shares)
        for p in sorted(range(len(spec.pools)), key=lambda p: -load[p]):
            least = totals.index(min(totals))
            shares[least].add(p)
            totals[least] += load[p]
        methods = multiprocessing.get_all_start_methods()
        mp: Any = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self._links: list[tuple[Connection, BaseProcess, list[int]]] = []
        for share in shares:
            parent, child = mp.Pipe()
            process = mp.Process(
                target=_serve, args=(child, self.context, begin_seconds, frozenset(share)), daemon=True
            )
            process.start()
            child.close()
            self._links.append((parent, process, sorted(share)))

    def _run(self, begin: float, end: float, scrapes: FloatArray) -> None:
        for conn, _, _ in self._links:
            conn.send((begin, end, scrapes))

    def _collect(self) -> list[EngineRecords]:
        records: list[EngineRecords | None] = [None] * len(self.context.spec.pools)
        for conn, _, pools in self._links:
            reply = conn.recv()
            if isinstance(reply, BaseException):
                self.close()
                raise reply
            for p in pools:
                records[p] = reply[p]
        assert all(r is not None for r in records)
        return [r for r in records if r is not None]

    def close(self) -> None:
        for conn, process, _ in self._links:
            with contextlib.suppress(OSError):
                conn.send(None)
            process.join(JOIN_SECONDS)
            if process.is_alive():
                process.terminate()
                process.join()
            conn.close()
        self._links = []


def _serve(conn: Connection, context: SimContext, begin_seconds: float, pools: frozenset[int]) -> None:
    """A worker: step its pools' engines for each (begin, end, scrapes) received, reply with records."""
    try:
        workload = Workload(context.spec, context.start_unix_seconds, context.tier_boundaries_tokens, pools)
        engines = {
            p: PoolEngine(context.spec.pools[p], context.n_tiers, begin_seconds) for p in sorted(pools)
        }
        while (message := conn.recv()) is not None:
            begin, end, scrapes = message
            arrivals = workload.arrivals(begin, end)
            scrape_list = np.asarray(scrapes).tolist()
            conn.send({p: engine.advance(end, scrape_list, arrivals[p]) for p, engine in engines.items()})
    except BaseException as exc:  # reported to the parent, which raises it
        with contextlib.suppress(OSError):
            conn.send(exc)
    finally:
        conn.close()
