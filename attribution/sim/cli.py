"""``attribution sim``: the simulated cluster, as history files or live endpoints."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from attribution.sim.history import DEFAULT_CHUNK_SECONDS, generate_history
from attribution.sim.live import LiveCluster
from attribution.sim.scenarios import SCENARIOS, scenario
from attribution.timeutil import parse_instant

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False)

ScenarioOpt = Annotated[str, typer.Option("--scenario", help=f"one of: {', '.join(SCENARIOS)}")]


class Split(StrEnum):
    none = "none"
    hour = "hour"
    block = "block"
    day = "day"
    week = "week"


#: ``block`` is promtool's default block range (2 h): one file per block keeps promtool's memory (about
#: the file's size) small for a large fleet.
SPLIT_SECONDS = {
    Split.none: None,
    Split.hour: 3600,
    Split.block: 7200,
    Split.day: 86_400,
    Split.week: 7 * 86_400,
}


@app.command()
def history(
    start: Annotated[str, typer.Option(help="ISO 8601 UTC, inclusive")],
    end: Annotated[str, typer.Option(help="ISO 8601 UTC, exclusive")],
    out: Annotated[Path, typer.Option(help="output directory")],
    scenario_name: ScenarioOpt = "demo",
    seed: int = 0,
    split: Annotated[
        Split, typer.Option(help="one OpenMetrics file per UTC hour, 2 h block, day or week")
    ] = (Split.none),
    workers: Annotated[int, typer.Option(help="engine processes running one chunk ahead (0: none)")] = 0,
    histograms: Annotated[bool, typer.Option(help="emit histogram families")] = True,
    interval_seconds: Annotated[int, typer.Option(help="ground-truth interval")] = 60,
    chunk_seconds: Annotated[
        int, typer.Option(help="simulation step (memory bound)")
    ] = DEFAULT_CHUNK_SECONDS,
    warmup_seconds: int = 3600,
) -> None:
    """Write OpenMetrics backfill files and ground truth for [start, end)."""
    spec = scenario(scenario_name, seed=seed)
    began = time.monotonic()
    result = generate_history(
        spec,
        parse_instant(start),
        parse_instant(end),
        out,
        interval_seconds=interval_seconds,
        include_histograms=histograms,
        chunk_seconds=chunk_seconds,
        split_seconds=SPLIT_SECONDS[split],
        warmup_seconds=warmup_seconds,
        workers=workers,
    )
    seconds = time.monotonic() - began
    typer.echo(
        f"wrote {len(result.openmetrics_paths)} OpenMetrics file(s), {result.samples:,} samples "
        f"({result.samples / max(seconds, 1e-9):,.0f}/s), {result.requests:,} requests, truth in {out}"
    )
    typer.echo(
        "load with: promtool tsdb create-blocks-from openmetrics --max-block-duration=168h FILE DATA_DIR"
    )


@app.command()
def serve(
    port_base: Annotated[int, typer.Option(help="first port; target i listens on port_base + i")],
    scenario_name: ScenarioOpt = "demo",
    seed: int = 0,
    speed: Annotated[float, typer.Option(help="simulated seconds per wall second")] = 1.0,
    duration: Annotated[float, typer.Option(help="wall seconds to serve before stopping")] = 600.0,
    histograms: bool = True,
    warmup_seconds: int = 600,
    prometheus_config: Annotated[
        Path | None, typer.Option(help="write a prometheus.yml that scrapes every target")
    ] = None,
    scrape_interval: str = "15s",
) -> None:
    """Serve one /metrics endpoint per simulated target on 127.0.0.1, in scaled real time."""
    live = LiveCluster(
        scenario(scenario_name, seed=seed),
        port_base=port_base,
        speed=speed,
        warmup_seconds=warmup_seconds,
        include_histograms=histograms,
    )
    if prometheus_config is not None:
        prometheus_config.write_text(live.prometheus_config(scrape_interval), encoding="utf-8")
    listing = [
        {"job": t.target.job, "instance": t.target.instance, "address": t.address} for t in live.targets
    ]
    typer.echo(json.dumps(listing, indent=2))
    typer.echo(f"serving {len(live.targets)} targets for {duration:g} s at {speed:g}x (Ctrl-C stops)")
    try:
        live.run(duration)
    except KeyboardInterrupt:
        typer.echo("stopped")
