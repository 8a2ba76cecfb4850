"""``attribution demo``: the whole pipeline on a simulated cluster, in a temporary directory's database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from attribution.cli.common import console, table_console


def demo(
    out: Annotated[Path, typer.Option(help="output directory")] = Path("demo-out"),
    days: Annotated[int, typer.Option(min=1, max=31, help="days of history, up to today 00:00 UTC")] = 7,
    month: Annotated[
        bool,
        typer.Option(
            "--month", help="the whole previous month, closed and then restated, and this month so far"
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="seed of the simulated cluster")] = 0,
) -> None:
    """Simulate a cluster, load it into a local Prometheus, collect, attribute and print the chargeback."""
    from attribution.demo import DEMO_PRICE_LIST, next_steps, run_demo
    from attribution.reports.chargeback_render import tiers_table, to_table

    run = run_demo(out, days=days, seed=seed, say=lambda m: console().print(m, style="dim"), month=month)
    to_table(run.chargeback, table_console())
    tiers_table(run.tiers, table_console())
    console().print(f"wrote {out}/chargeback.csv, {out}/chargeback.json, {out}/tiers.csv and {out}/run.json")
    if run.closed_period:
        corrections = run.facts.get("correction_lines", 0)
        console().print(
            f"closed {run.closed_period}, then restated it: {corrections} correction lines billed in the "
            "next open period"
        )
    console().print("\n".join(next_steps(run, DEMO_PRICE_LIST)), highlight=False, markup=False)
