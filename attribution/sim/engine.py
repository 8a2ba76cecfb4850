"""One pool's engine: continuous batching over a paged KV cache, with recompute preemption and restarts.

The scheduler follows vLLM V1's (``vllm/v1/core/sched/scheduler.py``), in continuous time:

* A request holds ceil(tokens / block_size) blocks, allocated as its tokens grow: during prefill its held
  tokens rise linearly from 0 to its prompt (chunked prefill, one block at a time); during decode they rise
  from the prompt to prompt + output. Nothing is reserved ahead.
* A waiting request is admitted (first come, first served, head-of-line blocking) while fewer than
  ``max_num_seqs`` run and the blocks of its first prefill chunk, min(prompt, max_num_batched_tokens), are
  free. No admission happens at an instant where a preemption happened.
* When a running request needs a block and none is free (the cache is full), the most recently admitted
  running request is preempted (``running.pop()``): it frees all its blocks and goes back to the *front*
  of the waiting queue; when re-admitted it re-prefills prompt + tokens generated so far, then decodes the
  rest. A preempted request holds nothing while it waits.
* An outage kills the engine: running and waiting requests are lost (failed, or re-sent by the gateway when
  the engine is back, by the outage's mode), and nothing is admitted until it is up again.

Exhaustion is found without touching every request at every event (``kvblocks.py`` says how).

All times are float seconds after the window start. Output accumulates per chunk in ``EngineRecords``.
"""

from __future__ import annotations

import heapq
import math
from collections import deque

from attribution.sim.cluster import PoolSpec
from attribution.sim.kvblocks import INF, ON_BOUNDARY, Request, blocks_wanted, first_exhaustion, used_blocks
from attribution.sim.records import EngineRecords
from attribution.sim.workload import Arrivals

_FINISH, _PREFILL_END = 0, 1
#: Blocks of slack below which the bound stops promising and blocks are counted exactly.
_TIGHT_BLOCKS = 2.0
#: Failure kinds: lost when the engine died under the request; refused while the engine was down.
LOST, REFUSED = 0, 1


class PoolEngine:
    """The state of one engine across chunks: call ``advance`` with consecutive, non-overlapping ranges."""

    def __init__(self, pool: PoolSpec, n_tiers: int, begin_seconds: float) -> None:
        self.capacity = pool.usable_blocks
        self.block = float(pool.block_size)
        self.prefill_rate = pool.prefill_tokens_per_second
        self.decode_rate = pool.decode_tokens_per_second
        self.max_seqs = pool.max_num_seqs
        self.chunk_tokens = pool.max_num_batched_tokens
        self.n_tiers = n_tiers
        self.outages = [(o.at_seconds, o.at_seconds + o.down_seconds, o.mode) for o in pool.outages]
        self.outage_index = 0
        while self.outage_index < len(self.outages) and self.outages[self.outage_index][1] <= begin_seconds:
            self.outage_index += 1
        # A run that starts inside an outage starts with the engine down.
        self.up = not (
            self.outage_index < len(self.outages) and self.outages[self.outage_index][0] <= begin_seconds
        )
        self.reqs: dict[int, Request] = {}
        self.running: dict[int, None] = {}  # admission order: the last key is the preemption victim
        self.waiting: deque[int] = deque()
        self.held: list[int] = []
        self.heap: list[tuple[float, int, int, int]] = []
        self.next_rid = 0
        self.now = begin_seconds
        # Bound aggregates: held tokens H(t) = sum_a + sum_rate x (t - origin) over running requests.
        self.origin = begin_seconds
        self.sum_a = self.sum_rate = 0.0
        self.check_at = INF
        self.requester: int | None = None
        self.tight = False
        self.next_outage = INF
        self._set_next_outage()
        self.out = EngineRecords()

    # ----------------------------------------------------------------------------------------- loop
    def advance(self, end: float, scrapes: list[float], arrivals: Arrivals) -> EngineRecords:
        """Run [now, end): arrivals (times in that range, sorted) join; gauges are read at ``scrapes``
        (sorted, in that range) after every event at or before each instant."""
        self.out = out = EngineRecords()
        a_time, a_prof, a_tier = arrivals.time.tolist(), arrivals.profile.tolist(), arrivals.tier.tolist()
        a_prompt, a_output, a_capped = (
            arrivals.prompt.tolist(),
            arrivals.output.tolist(),
            arrivals.capped.tolist(),
        )
        n_arr, n_scr, ai, si = len(a_time), len(scrapes), 0, 0
        heap = self.heap
        self._update_check(self.now, min(a_time[0] if n_arr else INF, end))
        while True:
            t_heap = heap[0][0] if heap else INF
            t_arr = a_time[ai] if ai < n_arr else INF
            t_out = self.next_outage
            t = min(t_heap, t_arr, t_out, self.check_at)
            if si < n_scr and scrapes[si] < t:
                out.running.append(len(self.running))
                out.waiting.append(len(self.waiting))
                si += 1
                continue
            if t >= end:
                break
            if t in (t_heap, t_out) or t_arr != t:
                recheck = self._event(t, t_heap, t_out)
            else:
                group = a_prof[ai] * self.n_tiers + a_tier[ai]
                self._arrive(t, group, a_prompt[ai], a_output[ai], a_capped[ai])
                ai += 1
                recheck = (self.waiting and self._admit(t)) or self.tight
            if recheck:
                self._update_check(t, min(a_time[ai] if ai < n_arr else INF, end))
        while si < n_scr:
            out.running.append(len(self.running))
            out.waiting.append(len(self.waiting))
            si += 1
        self._cut(end)
        return out

    def _event(self, t: float, t_heap: float, t_out: float) -> bool:
        """Process the heap event, outage step or check due at t; return whether the exhaustion check
        must be redone: always in the tight regime (it looked only up to the next event), else only when an
        admission made held tokens grow faster (a finish, a preemption or a switch to decode only make the
        pending bound conservative)."""
        recheck = self.tight
        if t_heap == t:
            _, kind, rid, version = heapq.heappop(self.heap)
            q = self.reqs.get(rid)
            if q is None or q.version != version:  # stale
                return recheck
            if kind == _FINISH:
                self._finish(q, rid, t)
                return (self.waiting and self._admit(t)) or recheck
            self._prefill_done(q, rid, t)
            return recheck
        if t_out == t:
            self._outage_step(t)
        elif not self._check(t):  # no admission at an instant of preemption
            self._admit(t)
        return True

    # ------------------------------------------------------------------------------ request events
    def _arrive(self, t: float, group: int, prompt: int, output: int, capped: bool) -> None:
        if not self.up and self.outages[self.outage_index][2] == "fail":
            self._fail(group, t, t, REFUSED)
            return
        rid = self.next_rid
        self.next_rid += 1
        self.reqs[rid] = Request(group, prompt, output, capped, t)
        (self.waiting if self.up else self.held).append(rid)

    # The three methods below run once or twice per request: helpers are inlined (one attribute lookup
    # each, no call) because the engine's cost is CPython's per-call overhead.
    def _start(self, q: Request, rid: int, t: float) -> None:
        """Admit: prefill prompt + tokens generated before any preemption, from 0 held tokens."""
        rate = self.prefill_rate
        q.target = target = q.prompt + q.gen
        q.phase, q.t0, q.h0, q.rate = 1, t, 0.0, rate
        q.phase_end = end = t + target / rate
        if q.first_scheduled is None:
            q.first_scheduled = t
        q.contrib = contrib = -rate * (t - self.origin)
        self.sum_a += contrib
        self.sum_rate += rate
        self.running[rid] = None
        heapq.heappush(self.heap, (end, _PREFILL_END, rid, q.version))

    def _prefill_done(self, q: Request, rid: int, t: float) -> None:
        target = q.target
        out = self.out
        if t > q.t0:
            out.pieces.extend((q.t0, t, q.h0, target, q.rate, q.group))
        if q.first_token is None:
            q.first_token = t
            out.first_tokens.extend((q.group, t, t - q.arrival))
        rate = self.decode_rate
        contrib = target - rate * (t - self.origin)
        self.sum_a += contrib - q.contrib
        self.sum_rate += rate - q.rate
        q.contrib, q.rate = contrib, rate
        q.phase, q.t0, q.h0 = 2, t, target
        q.phase_end = end = t + (q.output - q.gen) / rate
        heapq.heappush(self.heap, (end, _FINISH, rid, q.version))

    def _finish(self, q: Request, rid: int, t: float) -> None:
        out = self.out
        held_end = float(q.prompt + q.output)
        if t > q.t0:
            out.pieces.extend((q.t0, t, q.h0, held_end, q.rate, q.group))
        scheduled, first = q.first_scheduled, q.first_token
        assert scheduled is not None and first is not None
        out.completions.extend(
            (
                q.group,
                q.gw_arrival,
                q.arrival,
                scheduled,
                first,
                t,
                q.prompt,
                q.output,
                q.capped,
                q.preemptions,
            )
        )
        del self.running[rid]
        self.sum_a -= q.contrib
        self.sum_rate -= q.rate
        del self.reqs[rid]

    def _fail(self, group: int, gw_arrival: float, t: float, kind: int) -> None:
        self.out.failures.extend((group, gw_arrival, t, kind))

    def _preempt(self, q: Request, rid: int, t: float) -> None:
        """Recompute preemption: free every block, back to the front of the waiting queue."""
        held = q.h0 + q.rate * (t - q.t0)
        self._piece(q, t, held)
        if q.phase == 2:
            q.gen += (t - q.t0) * self.decode_rate
        q.phase, q.version, q.preemptions = 0, q.version + 1, q.preemptions + 1
        self._drop_running(q, rid)
        self.waiting.appendleft(rid)

    # --------------------------------------------------------------------------- KV accounting
    def _piece(self, q: Request, t: float, held_end: float) -> None:
        if t > q.t0:
            self.out.pieces.extend((q.t0, t, q.h0, held_end, q.rate, q.group))

    def _enter(self, q: Request) -> None:
        """Add q's trajectory (t0, h0, rate) to the bound aggregates."""
        q.contrib = q.h0 - q.rate * (q.t0 - self.origin)
        self.sum_a += q.contrib
        self.sum_rate += q.rate

    def _leave(self, q: Request) -> None:
        self.sum_a -= q.contrib
        self.sum_rate -= q.rate

    def _drop_running(self, q: Request, rid: int) -> None:
        del self.running[rid]
        self._leave(q)

    def _admit(self, t: float) -> bool:
        """Admit from the head of the queue while a batch slot and the first chunk's blocks are free;
        return whether anyone was. Newcomers hold nothing yet at t, so blocks promised to earlier
        newcomers are counted apart."""
        running, waiting = self.running, self.waiting
        if not waiting or not self.up or len(running) >= self.max_seqs:
            return False
        block = self.block
        exact: int | None = None
        promised = 0
        while waiting and len(running) < self.max_seqs:
            rid = waiting[0]
            q = self.reqs[rid]
            need = math.ceil(min(q.prompt + q.gen, self.chunk_tokens) / block)
            bound = (self.sum_a + self.sum_rate * (t - self.origin)) / block + len(running) + promised
            if self.capacity - bound < need + 1:
                exact = used_blocks(self.reqs, self.running, block, t) if exact is None else exact
                if self.capacity - exact - promised < need:
                    break
            waiting.popleft()
            self._start(q, rid, t)
            promised += need
        return promised > 0

    def _update_check(self, t: float, horizon: float) -> None:
        """Set ``check_at``: when the bound says the cache might fill, or (tight regime) the exact instant
        a request needs a block that is not there, with ``requester`` set to that request."""
        self.check_at, self.requester, self.tight = INF, None, False
        if not self.running or not self.up:
            return
        block = self.block
        slack = (self.capacity - len(self.running)) * block - (self.sum_a + self.sum_rate * (t - self.origin))
        if slack > 2 * _TIGHT_BLOCKS * block:
            self.check_at = t + (slack - _TIGHT_BLOCKS * block) / self.sum_rate
            return
        self.tight = True
        t_next = min(self.heap[0][0] if self.heap else INF, horizon, self.next_outage)
        found = first_exhaustion(self.reqs, self.running, block, self.capacity, t, t_next)
        if found is not None:
            self.check_at, self.requester = found

    def _check(self, t: float) -> bool:
        """At ``check_at``: preempt if a request needs a block now (return True), else recount exactly."""
        requester = self.requester
        if requester is None or requester not in self.running:
            return False
        wanted = blocks_wanted(self.reqs, self.running, self.block, t)
        while self.running:
            victim = next(reversed(self.running))
            q = self.reqs[victim]
            freed = math.ceil((q.h0 + q.rate * (t - q.t0)) / self.block - ON_BOUNDARY)
            self._preempt(q, victim, t)
            if victim == requester or freed > 0:
                break
        self.out.preemptions.extend((t, wanted))
        return True

    # ------------------------------------------------------------------------------- outages
    def _set_next_outage(self) -> None:
        if self.outage_index >= len(self.outages):
            self.next_outage = INF
        else:
            crash, back, _ = self.outages[self.outage_index]
            self.next_outage = crash if self.up else back

    def _outage_step(self, t: float) -> None:
        _, _, mode = self.outages[self.outage_index]
        if not self.up:
            self.up = True
            self.outage_index += 1
            self._set_next_outage()
            for rid in self.held:
                self.reqs[rid].arrival = t
                self.waiting.append(rid)
            self.held = []
            return
        lost = list(self.running) + list(self.waiting)
        for rid in self.running:
            q = self.reqs[rid]
            self._piece(q, t, q.h0 + q.rate * (t - q.t0))
        self.running.clear()
        self.waiting.clear()
        self.heap.clear()
        self.sum_a = self.sum_rate = 0.0
        self.up = False
        self._set_next_outage()
        for rid in sorted(lost, key=lambda r: (self.reqs[r].gw_arrival, r)):
            q = self.reqs[rid]
            if mode == "fail":
                self._fail(q.group, q.gw_arrival, t, LOST)
                del self.reqs[rid]
                continue
            q.gen, q.first_scheduled, q.first_token, q.preemptions = 0.0, None, None, 0
            q.phase, q.version = 0, q.version + 1
            self.held.append(rid)

    # -------------------------------------------------------------------------------- chunks
    def _cut(self, end: float) -> None:
        """End every running request's piece at ``end`` and restart it there; resync the aggregates."""
        self.origin = self.now = end
        self.sum_a = self.sum_rate = 0.0
        for rid in self.running:
            q = self.reqs[rid]
            held = q.h0 + q.rate * (end - q.t0)
            self._piece(q, end, held)
            if q.phase == 2:
                q.gen += (end - q.t0) * self.decode_rate
            q.t0, q.h0 = end, held
            q.contrib = held
            self.sum_a += held
            self.sum_rate += q.rate
