"""The scale scenario's fleet as the benches configure it: its spec, its window and its settings.

One home for what bench/scale_stages.py's stages, the Prometheus warm-up (bench/prometheus_warmup.py) and
the side benches (collect_ceiling, attribute_phases, inventory_split) build from the same JSON arguments
(``gpus``, ``tenants``, ``start``, ``hours``, ``chunk_intervals``), so that all of them collect and
attribute the very same fleet.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attribution.config import Settings
from attribution.demo import demo_settings
from attribution.sim import ClusterSpec, scenario


def spec_of(args: dict[str, Any]) -> ClusterSpec:
    return scenario("fleet", seed=0, gpus=args["gpus"], tenants=args["tenants"])


def window_of(args: dict[str, Any], hours_key: str = "hours") -> tuple[datetime, datetime]:
    start = datetime.fromisoformat(args["start"])
    return start, start + timedelta(hours=args[hours_key])


def settings_of(args: dict[str, Any], url: str, prometheus_url: str) -> Settings:
    """The fleet as an operator would configure it, collecting in chunks of ``chunk_intervals``."""
    settings = demo_settings(spec_of(args), url, prometheus_url)
    collection = settings.collection.model_copy(update={"chunk_intervals": args["chunk_intervals"]})
    return settings.model_copy(update={"max_window_days": 32, "collection": collection})
