"""The efficiency and what-if reports as terminal tables or JSON (Decimals as strings, never floats)."""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from attribution.model.money import format_micros
from attribution.model.whatif import WhatIf
from attribution.reports.efficiency import Efficiency
from attribution.reports.whatif import WhatIfReport
from attribution.timeutil import iso


def plain(value: Any) -> Any:
    """A report dataclass as JSON-ready data: Decimals as strings, datetimes as RFC 3339 ``Z``."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def to_json(report: Efficiency | WhatIfReport) -> str:
    return json.dumps(plain(report), indent=2)


def _d(value: Decimal | None, suffix: str = "") -> str:
    return "-" if value is None else f"{value}{suffix}"


def efficiency_table(report: Efficiency, console: Console) -> None:
    table = Table(
        title=f"{report.pool}: efficiency per day (max_num_seqs {report.max_num_seqs}, "
        f"target occupancy {report.target_occupancy})"
    )
    for name in (
        "day",
        "KV use",
        "batch occ.",
        "tok/GPU-s",
        "GPU util %",
        "cost",
        "$/1M",
        "$/1M @target",
        "headroom",
    ):
        table.add_column(name, justify="right")
    for d in report.days:
        table.add_row(
            f"{d.start:%Y-%m-%d}",
            _d(d.kv_usage_ratio),
            _d(d.batch_occupancy) + ("" if d.occupancy_basis == "batch" else " (kv)"),
            _d(d.tokens_per_gpu_second),
            _d(d.gpu_util_percent),
            format_micros(d.cost_usd_micros),
            _d(d.usd_per_million_tokens),
            _d(d.usd_per_million_tokens_at_target),
            format_micros(d.headroom_usd_micros),
        )
    console.print(table)
    s = report.structure
    parts = Table(title=f"{report.pool}: cost structure over the window")
    for name in ("part", "USD", "share"):
        parts.add_column(name, justify="right")
    for label, micros, share in (
        ("tokens (KV in use)", s.tokens_usd_micros, s.tokens_share),
        ("memory (static)", s.memory_usd_micros, s.memory_share),
        ("idle (KV free)", s.idle_usd_micros, s.idle_share),
        ("recovery (incidents)", s.recovery_usd_micros, s.recovery_share),
        ("= pool cost", s.cost_usd_micros, Decimal(1) if s.cost_usd_micros else None),
        ("idle as settled", s.settled_idle_usd_micros, s.settled_idle_share),
        ("unmeasured", s.unmeasured_usd_micros, s.unmeasured_share),
        (
            f"long context ({', '.join(s.long_context_tiers)})",
            s.long_context_usd_micros,
            s.long_context_share,
        ),
    ):
        parts.add_row(label, format_micros(micros), _d(share))
    console.print(parts)


def _column(w: WhatIf) -> list[str]:
    d = w.deployment
    return [
        f"{w.gpus} x {d.gpu_type} (tp {d.tensor_parallel} x {d.replicas})",
        d.kv_dtype,
        format_micros(w.usd_micros_per_month),
        format_micros(w.window_cost_usd_micros),
        f"{w.kv_capacity_tokens_per_replica:,}",
        f"{w.peak_kv_tokens_per_replica:,}",
        _d(w.kv_peak_ratio),
        "yes" if w.kv_fits else "NO",
        "-" if w.batch_fits is None else ("yes" if w.batch_fits else "NO"),
        _d(w.usd_per_million_tokens_all),
        *(_d(v) for _, v in sorted(w.usd_per_million_tokens.items())),
    ]


def what_if_table(report: WhatIfReport, console: Console) -> None:
    table = Table(title=f"{report.pool}: what if ({iso(report.start)} to {iso(report.end)})")
    table.add_column("")
    table.add_column("as run", justify="right")
    table.add_column("proposed", justify="right")
    rows = [
        "GPUs",
        "KV dtype",
        "cost per month",
        "cost of the window",
        "KV capacity per replica (tokens)",
        "peak KV demand per replica (tokens)",
        "peak / capacity",
        "peak fits (at most 0.9)",
        "peak batch fits",
        "USD per 1M tokens, all",
        *(f"USD per 1M tokens, {t}" for t in sorted(report.current.usd_per_million_tokens)),
    ]
    for label, now, then in zip(rows, _column(report.current), _column(report.proposed), strict=True):
        table.add_row(label, now, then)
    console.print(table)
    console.print(f"measured cost of the window: {format_micros(report.measured_cost_usd_micros)}")
    for a in report.assumptions:
        console.print(f"assumes {a}")
