"""How attribution's cost grows with tenants and with days: a sweep, each point in processes of its own.

Run: .venv/bin/python bench/bench_scaling.py [--gpus 256] [--tenants 100 1000 10000] [--fixed-days 1]
     [--days 1 7 30] [--fixed-tenants 1000] [--point-seconds 600] [--database-url postgresql://...]
     [--out scaling.json]   (make bench-scaling)
     .venv/bin/python bench/bench_scaling.py --table   (the table of the last run, from its file)
Writes bench/results/scaling.json (``--out``) after every point and prints a markdown table. A benchmark,
not a test.

For each tenant count the ``fleet`` of ``--gpus`` GPUs is simulated for ``--sim-hours``, backfilled into
Prometheus and collected into a seed database (bench_scale's stages). Each point copies its seed
(``CREATE DATABASE ... TEMPLATE``), fills ``days`` by replicating the seed's hours (as bench_scale.py
fills the month), then, each in its own process: the raw ``GROUP BY`` of the input rows (the ceiling,
best of 2), ``run_attribution`` over the days in 24-hour windows (as the scheduler runs it) and the
window's chargeback (``build_chargeback``, no API, no cache). Every stage is bounded by
``--point-seconds``: an attribution stopped there is reported with the hours it did and the whole
extrapolated linearly (marked), so one slow point does not hang the sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_attribute import MONTH_START  # noqa: E402
from bench_scale import copied_database, databases, machine, stop_backends  # noqa: E402
from stagerun import run_stage  # noqa: E402

STAGES = ROOT / "bench" / "scale_stages.py"
RESULTS = ROOT / "bench" / "results"


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpus", type=int, default=256, help="fleet size of every point (multiple of 64)")
    parser.add_argument("--tenants", type=int, nargs="*", default=[100, 1000, 10000])
    parser.add_argument("--fixed-days", type=int, default=1, help="days of the tenants sweep")
    parser.add_argument("--days", type=int, nargs="*", default=[1, 7, 30])
    parser.add_argument("--fixed-tenants", type=int, default=1000, help="tenants of the days sweep")
    parser.add_argument("--sim-hours", type=float, default=2.0, help="simulated and collected seed span")
    parser.add_argument(
        "--fan-out-above",
        type=int,
        default=1000,
        help="a tenant count above this (a multiple of it) is seeded from this count's seed, each tenant "
        "split in SQL (bench/tenant_fanout.py); 0: simulate every count",
    )
    parser.add_argument("--point-seconds", type=float, default=600.0, help="budget of each stage")
    parser.add_argument("--database-url", help="a Postgres server (fresh databases are created)")
    parser.add_argument("--out", default="scaling.json", help="file name under bench/results")
    parser.add_argument("--table", action="store_true", help="print the table of the last results and stop")
    return parser.parse_args()


def points(args: argparse.Namespace) -> list[tuple[int, int]]:
    """(tenants, days) of both sweeps, each once, in the order run (cheapest first)."""
    wanted = [(t, args.fixed_days) for t in args.tenants] + [(args.fixed_tenants, d) for d in args.days]
    return sorted(dict.fromkeys(wanted), key=lambda p: (p[1], p[0]))


def seed(args: argparse.Namespace, tenants: int, url: str, work: Path) -> dict[str, Any]:
    """Simulate, backfill and collect ``--sim-hours`` of the fleet with ``tenants`` into ``url``."""
    span = {
        "gpus": args.gpus,
        "tenants": tenants,
        "start": MONTH_START.isoformat(),
        "chunk_intervals": 60,
        "hours": args.sim_hours,
    }
    out, tsdb = work / f"om-{tenants}", work / f"tsdb-{tenants}"
    budget = args.point_seconds
    sim = run_stage(STAGES, "simulate", {**span, "out": str(out), "workers": 2}, budget, ROOT)
    if sim.get("did_not_finish"):
        return {"did_not_finish": "simulate"}
    ingest = {"files": sim["files"], "tsdb": str(tsdb), "samples": sim["samples"]}
    if run_stage(STAGES, "ingest", ingest, budget, ROOT).get("did_not_finish"):
        return {"did_not_finish": "ingest"}
    collected = run_stage(STAGES, "collect", {**span, "url": url, "tsdb": str(tsdb)}, budget, ROOT)
    shutil.rmtree(tsdb, ignore_errors=True)
    if collected.get("did_not_finish"):
        return {"did_not_finish": "collect"}
    return {"simulated_seconds": sim["seconds"], "collected_rows": collected["rows"]}


def fan_out(args: argparse.Namespace, tenants: int, url: str) -> dict[str, Any]:
    """The seed of ``tenants`` at ``url`` (a copy of the seed of ``--fan-out-above`` tenants) fanned out
    (:func:`tenant_fanout.fan_out_tenants`)."""
    from tenant_fanout import fan_out_tenants

    began = time.perf_counter()
    figures = fan_out_tenants(url, tenants // args.fan_out_above)
    seconds = round(time.perf_counter() - began, 1)
    return {"fanned_out_from": args.fan_out_above, **figures, "seconds": seconds}


def fans_out(args: argparse.Namespace, tenants: int) -> bool:
    base = args.fan_out_above
    if base and tenants > base and tenants % base:
        raise SystemExit(f"--tenants {tenants} is above --fan-out-above {base} but not a multiple of it")
    return bool(base) and tenants > base


def point(args: argparse.Namespace, tenants: int, days: int, url: str) -> dict[str, Any]:
    """One point on a copy of its seed: fill, ceiling, attribution, chargeback, each bounded."""
    month = {
        "gpus": args.gpus,
        "tenants": tenants,
        "start": MONTH_START.isoformat(),
        "chunk_intervals": 60,
        "hours": args.sim_hours,
        "url": url,
        "month_days": days,
    }
    budget = args.point_seconds
    out: dict[str, Any] = {"tenants": tenants, "days": days, "gpus": args.gpus}
    for name, kind, extra in (
        ("replicate", "replicate", {}),
        ("raw_group_by", "group_by", {}),
        ("attribute", "attribute", {"chunk_hours": 24}),
        ("chargeback", "chargeback", {}),
    ):
        figures = run_stage(STAGES, kind, {**month, **extra}, budget, ROOT)
        out[name] = figures
        if figures.get("did_not_finish"):
            stop_backends(url)
            if name != "attribute":
                break
    return out


def row(p: dict[str, Any]) -> dict[str, Any]:
    """The table's figures of one point (None where not measured)."""
    att = p.get("attribute", {})
    part = att.get("partial") or {}
    finished = "seconds" in att and not att.get("did_not_finish")
    if finished:
        seconds, note = att["seconds"], ""
    elif part.get("hours_done"):
        seconds = part["seconds"] * part["hours"] / part["hours_done"]
        note = (
            f"attribution did not finish in {att['budget_seconds']:g} s: {part['hours_done']:g} h done in "
            f"{part['seconds']:g} s, extrapolated; chargeback of the hours done"
        )
    else:
        stopped = [n for n in ("replicate", "raw_group_by") if p.get(n, {}).get("did_not_finish")]
        budget = p.get(stopped[0], {}).get("budget_seconds") if stopped else None
        note = f"{stopped[0]} did not finish in {budget:g} s" if stopped else "not reached"
        if p.get("seed_did_not_finish"):
            note = "its seed (simulate, promtool, collect) did not finish in the budget"
        seconds = None
    rows = sum((p.get("replicate", {}).get("input_rows") or {}).values()) or None
    group_by = p.get("raw_group_by", {}).get("seconds")
    charge = p.get("chargeback", {})
    return {
        "tenants": p["tenants"],
        "days": p["days"],
        "input_rows": rows,
        "attribute_seconds": round(seconds, 1) if seconds else None,
        "raw_group_by_seconds": group_by,
        "ratio": round(seconds / group_by, 1) if seconds and group_by else None,
        "attribute_peak_rss_mib": att.get("peak_rss_mib") or part.get("peak_rss_mib"),
        "chargeback_seconds": charge.get("seconds"),
        "chargeback_peak_rss_mib": charge.get("peak_rss_mib"),
        "note": note,
    }


def table(results: dict[str, Any]) -> str:
    head = (
        "| tenants | days | input rows | attribution s | raw GROUP BY s | ratio | attribution peak RSS MiB "
        "| chargeback s | chargeback peak RSS MiB | note |\n" + "|---:" * 9 + "|---|"
    )
    lines = [head]
    for p in results["points"]:
        r = row(p)
        cells = [f"{v:,}" if isinstance(v, int) else ("—" if v is None else str(v)) for v in r.values()]
        lines.append("| " + " | ".join(cells) + " |")
    m = results["machine"]
    lines.append(
        f"\n{results['gpus']} GPUs, seeds of {results['sim_hours']:g} h replicated; "
        f"{results['started_at']} to {results.get('finished_at', '(unfinished)')}, "
        f"commit {results['commit']}, 1-minute load average {m['load_average_1m_at_start']} at start, "
        f"{m.get('load_average_1m_at_end', '?')} at end."
    )
    return "\n".join(lines)


def commit() -> str:
    import subprocess

    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=False)  # fmt: skip
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
    return done.stdout.strip() + ("+changes" if dirty else "")


def main() -> None:
    args = options()
    if args.table:
        print(table(json.loads((RESULTS / args.out).read_text())))
        return
    results: dict[str, Any] = {
        "gpus": args.gpus,
        "sim_hours": args.sim_hours,
        "point_seconds": args.point_seconds,
        "commit": commit(),
        "machine": machine(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seeds": {},
        "points": [],
    }

    def save() -> None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / args.out).write_text(json.dumps(results, indent=2, default=str) + "\n")

    wanted = points(args)
    work = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    try:
        with ExitStack() as stack:
            simulated = sorted({args.fan_out_above if fans_out(args, t) else t for t, _ in wanted})
            db, _ = stack.enter_context(databases(args.database_url, [f"seed{t}" for t in simulated]))

            def seeded(tenants: int) -> dict[str, Any]:
                if str(tenants) not in results["seeds"]:
                    if fans_out(args, tenants):
                        base = seeded(args.fan_out_above)
                        if "did_not_finish" in base:
                            results["seeds"][str(tenants)] = base
                            return base
                        print(f"seed: {tenants} tenants fanned out of {args.fan_out_above}", flush=True)
                        copy = copied_database(db[f"seed{args.fan_out_above}"], f"_fan{tenants}")
                        db[f"seed{tenants}"] = stack.enter_context(copy)
                        results["seeds"][str(tenants)] = fan_out(args, tenants, db[f"seed{tenants}"])
                    else:
                        print(f"seed: {args.gpus} GPUs, {tenants} tenants, {args.sim_hours:g} h", flush=True)
                        results["seeds"][str(tenants)] = seed(args, tenants, db[f"seed{tenants}"], work)
                    save()
                return dict(results["seeds"][str(tenants)])

            for tenants, days in wanted:
                seeded(tenants)
                seed_url = db[f"seed{tenants}"]
                if "did_not_finish" in results["seeds"][str(tenants)]:
                    results["points"].append({"tenants": tenants, "days": days, "seed_did_not_finish": True})
                    continue
                print(f"point: {tenants} tenants, {days} days", flush=True)
                with copied_database(seed_url) as url:
                    results["points"].append(point(args, tenants, days, url))
                save()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    save()
    print(table(results))
    print(f"wrote {(RESULTS / args.out).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
