"""How far one run of the attribution job reaches: at most ``scheduler.attribution_max_window_seconds``,
and at most ``scheduler.attribution_max_usage_rows`` tenant usage rows.

A run holds its window's usage, the engine's columns and its lines at once, so its memory grows with the
usage rows it reads (about 200 bytes a row at the peak, plus the GPU telemetry): a day of 1,024 GPUs and
1,000 tenants is 4.3 M rows and 1.7 GB, but a day of 10,000 tenants on 256 GPUs is 19 M rows and 3.9 GB
(docs/performance.md, the scaling sweep). Cutting by rows keeps a growing tenant base from outgrowing the
machine without anyone shortening the window by hand. Windows are cut at whole settlement windows (a run
widens to them anyway) and are never shorter than one: a settlement window's idle is shared over all
of it. Settled over the whole period, a window is never cut.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from attribution.config import Settings
from attribution.ledger.attribute import settlement_seconds
from attribution.store.inputs import usage_rows_per_interval
from attribution.timeutil import windows_of


def cut_grain_seconds(settings: Settings) -> int | None:
    """Where windows may be cut: whole settlement windows (and whole line grains and attribution grains);
    None when idle settles over the whole period."""
    settle = settlement_seconds(settings)
    if settle is None:
        return None
    return max(settle, settings.line_grain_seconds, settings.scheduler.attribution_align_seconds)


def windows_within(
    session: Session, settings: Settings, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut into consecutive windows of at most the scheduler's length and row budget.
    ``start`` is expected on a cut grain (the scheduler aligns it; a run widens it otherwise)."""
    if end <= start:
        return []
    longest = timedelta(seconds=settings.scheduler.attribution_max_window_seconds)
    grain = cut_grain_seconds(settings)
    if grain is None:  # every run widens to its whole period: the length alone, as the loop always cut
        return windows_of(start, end, longest)
    budget = settings.scheduler.attribution_max_usage_rows
    first_s = int(start.timestamp())
    per_grain: dict[int, int] = {}
    for t, n in usage_rows_per_interval(session, start, end, settings.cluster).items():
        per_grain[(t - first_s) // grain] = per_grain.get((t - first_s) // grain, 0) + n
    out: list[tuple[datetime, datetime]] = []
    w_start, held = start, 0
    for i, (at, nxt) in enumerate(windows_of(start, end, timedelta(seconds=grain))):
        grain_rows = per_grain.get(i, 0)
        if at > w_start and (nxt - w_start > longest or held + grain_rows > budget):
            out.append((w_start, at))
            w_start, held = at, 0
        held += grain_rows
    out.append((w_start, end))
    return out
