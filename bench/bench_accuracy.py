"""Accuracy of attribution per gateway profile, against the simulator's ground truth.

Run: .venv/bin/python bench/bench_accuracy.py [--scenario mixed] [--hours 3] [--seed 7]
Prints a table and writes bench/results/accuracy.json. A benchmark, not a test: no thresholds (the 1%
bound for exact token-seconds is a test: tests/e2e/test_pipeline.py).

One simulated history, one Prometheus; for each gateway profile a fresh SQLite database is filled by the
real collectors (dcgm and vLLM/SGLang for GPUs and KV, the profile for tenants) and attributed. The
yardstick is the same model run on the simulator's ground truth (tests/support/truth.py): so the figures
measure what the telemetry path loses (scrape lag, counter resolution, and for LiteLLM and OpenTelemetry
the estimate of KV token-seconds from tokens and latency), not the model itself.

* ``native``: the gateway contract (docs/gateway-contract.md) exports KV token-seconds per tenant and tier;
* ``litellm``, ``otel-genai``: no KV residency; token-seconds are estimated (docs/collectors.md).
Figures: L1 distance of tenant cost shares and of tenant x tier cost shares (0 = identical, 2 = disjoint),
and the largest error of one tenant's cost as a fraction of its true cost.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from attribution.collectors.prom import PromClient  # noqa: E402
from attribution.collectors.run import collect_window  # noqa: E402
from attribution.config import Settings  # noqa: E402
from attribution.demo import demo_settings  # noqa: E402
from attribution.ledger.attribute import run_attribution  # noqa: E402
from attribution.localprom import LocalPrometheus, create_blocks  # noqa: E402
from attribution.sim import generate_history  # noqa: E402
from attribution.sim.scenarios import scenario  # noqa: E402
from attribution.store.migrate import upgrade  # noqa: E402
from attribution.store.session import make_engine, make_sessionmaker  # noqa: E402
from attribution.store.tables import AttributedCost  # noqa: E402
from tests.support.truth import by_tenant, l1_of_shares, model_on_truth  # noqa: E402

START = datetime(2026, 11, 2, tzinfo=UTC)
PROFILES = ("native", "litellm", "otel-genai")


def profile_settings(base: Settings, url: str, gateway_profile: str, sglang: bool) -> Settings:
    """The scenario's settings reading GPUs and KV with the presets and tenants with ``gateway_profile``."""
    sources: list[dict[str, Any]] = [
        {"name": "sim", "url": url, "profiles": ["dcgm", "vllm", gateway_profile]}
    ]
    if sglang:
        sources.append({"name": "sim-sglang", "url": url, "profiles": ["sglang"]})
    return Settings.model_validate({**base.model_dump(exclude={"sources"}), "sources": sources})


def attributed(settings: Settings, db: Path, prom_url: str, end: datetime) -> dict[tuple[str, str], int]:
    url = f"sqlite:///{db}"
    upgrade(url)
    settings = settings.model_copy(update={"database_url": url})
    factory = make_sessionmaker(make_engine(url))
    collect_window(PromClient(prom_url), settings, factory, START, end)
    run_attribution(settings, factory, START, end)
    t = AttributedCost
    with factory() as session:
        rows = session.execute(
            select(t.tenant, t.tier, func.sum(t.total_usd_micros)).group_by(t.tenant, t.tier)
        ).all()
    return {(tenant, tier): int(total) for tenant, tier, total in rows}


def worst_tenant_error(got: dict[str, int], want: dict[str, int]) -> tuple[str, float]:
    errors = {k: abs(got.get(k, 0) - v) / v for k, v in want.items() if v > 0}
    tenant = max(errors, key=lambda k: errors[k])
    return tenant, errors[tenant]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", default="mixed")
    parser.add_argument("--hours", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    spec = scenario(args.scenario, seed=args.seed)
    end = START + timedelta(hours=args.hours)
    sglang = any(p.engine == "sglang" for p in spec.pools)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.monotonic()
        history = generate_history(spec, START, end, work / "history")
        create_blocks(history.openmetrics_path, work / "tsdb")
        print(f"simulated and loaded {args.hours} h of {args.scenario} in {time.monotonic() - t0:.0f} s")
        with LocalPrometheus(work / "tsdb") as prom:
            base = demo_settings(spec, "sqlite://", prom.url)
            truth = model_on_truth(spec, history, base, START, end)
            for profile in PROFILES:
                t0 = time.monotonic()
                settings = profile_settings(base, prom.url, profile, sglang)
                got = attributed(settings, work / f"{profile}.db", prom.url, end)
                tenant, worst = worst_tenant_error(by_tenant(got), by_tenant(truth))
                results[profile] = {
                    "l1_tenant_shares": round(l1_of_shares(by_tenant(got), by_tenant(truth)), 5),
                    "l1_tenant_tier_shares": round(l1_of_shares(got, truth), 5),
                    "worst_tenant": tenant,
                    "worst_tenant_relative_error": round(worst, 5),
                    "seconds": round(time.monotonic() - t0, 1),
                }
    print(f"\n{'profile':<12} {'L1 tenant':>10} {'L1 tenant x tier':>17} {'worst tenant (rel. error)':>36}")
    for profile, r in results.items():
        worst = f"{r['worst_tenant']} ({r['worst_tenant_relative_error']:.2%})"
        print(f"{profile:<12} {r['l1_tenant_shares']:>10.2%} {r['l1_tenant_tier_shares']:>17.2%} {worst:>36}")
    out = {
        "scenario": args.scenario,
        "hours": args.hours,
        "seed": args.seed,
        "profiles": results,
        "machine": {"python": platform.python_version(), "cpu": platform.machine()},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path = ROOT / "bench" / "results" / "accuracy.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
