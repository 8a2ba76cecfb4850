"""The memory-time model applied straight to the simulator's ground truth, bypassing exposition.

The yardstick for accuracy: what each tenant x tier would pay if the collectors saw exactly what the
simulated engines did. The end-to-end tests and bench/bench_accuracy.py compare stored lines with it.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from attribution.config import Settings
from attribution.ledger.attribute import policies
from attribution.ledger.inputs import UNALLOCATED, IntervalTelemetry, build_inputs
from attribution.model.attribute import attribute_window
from attribution.model.split import Usage
from attribution.sim.cluster import ClusterSpec
from attribution.sim.history import HistoryResult

K = TypeVar("K")


def _ts(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def model_on_truth(
    spec: ClusterSpec, history: HistoryResult, settings: Settings, start: datetime, end: datetime
) -> dict[tuple[str, str], int]:
    """Micro-USD per (tenant, tier) over ``[start, end)`` from the truth files written beside the history."""
    truth = json.loads(history.truth_path.read_text())
    pools = {p["pool"]: p for p in truth["pools"]}
    gpus: dict[tuple[str, str], int] = {(p.gpu_key, p.name): p.gpus for p in spec.pools}
    for gpu_key, count in spec.unallocated_gpus.items():
        gpus[(gpu_key, UNALLOCATED)] = count
    telemetry: dict[int, IntervalTelemetry] = defaultdict(lambda: IntervalTelemetry({}, {}))
    kv_rows = []
    with Path(history.truth_pool_intervals_path).open() as fh:
        for row in csv.DictReader(fh):
            ts, pool = _ts(row["interval_start"]), pools[row["pool"]]
            telemetry[ts].gpus = dict(gpus)
            kv_rows.append(
                (
                    ts,
                    row["pool"],
                    "truth",
                    float(row["mean_kv_usage_ratio"]),
                    pool["kv_capacity_tokens"],
                    pool["kv_bytes_per_token"],
                    None,
                )
            )
    with Path(history.truth_intervals_path).open() as fh:
        for row in csv.DictReader(fh):
            telemetry[_ts(row["interval_start"])].usage.setdefault(row["pool"], {})[
                (row["tenant"], row["tier"])
            ] = Usage(
                float(row["kv_token_seconds"]),
                int(row["requests"]),
                int(row["prompt_tokens"]),
                int(row["generation_tokens"]),
            )
    inputs = build_inputs(settings, start, end, telemetry, kv_rows)
    result = attribute_window(inputs.pool_intervals, inputs.cluster_intervals, policies(settings))
    costs: dict[tuple[str, str], int] = defaultdict(int)
    for (_, _, tenant, tier), comp in result.lines.items():
        costs[(tenant, tier)] += comp.total
    return dict(costs)


def l1_of_shares(got: Mapping[K, int], want: Mapping[K, int]) -> float:
    """The L1 distance between two cost distributions (each normalised to shares): 0 equal, 2 disjoint."""
    total_got, total_want = sum(got.values()), sum(want.values())
    return sum(abs(got.get(k, 0) / total_got - want.get(k, 0) / total_want) for k in set(got) | set(want))


def by_tenant(costs: Mapping[tuple[str, str], int]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for (tenant, _), amount in costs.items():
        out[tenant] += amount
    return dict(out)
