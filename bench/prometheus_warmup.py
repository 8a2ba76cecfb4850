"""Prometheus warmed for a timed collection: the collection's own reads, sent and parsed by another process.

Why: the ``collect`` stage (bench/scale_stages.py) times a collection against the Prometheus it has just
started, then replays that collection's queries on the same Prometheus for the fetch-only ceiling
(bench/fetch_replay.py). A freshly started Prometheus answers the same calls about a fifth slower than
once they have been asked (bench-quick: 0.145 s against 0.119 s, docs/performance.md, "Collection at
bench-quick size (session 17)"), so the collection paid Prometheus' start and the replay, right after
it, did not. The production Prometheus a collector reads has been up for days. Here every read of the
window (every plan, every chunk, as ``collect_window`` sends them), parsed and dropped, is made first by a
process of its own: Prometheus is then as warm for the collection as for the replay, and the collecting
process stays cold (its first collection, as a one-shot ``attribution collect`` runs). Nothing is written
and no database is opened. bench/collect_ceiling.py warms the same way, with an untimed collection.

Run by scale_stages.collect as ``python bench/prometheus_warmup.py 'JSON'`` (the stage's arguments and
``prometheus_url``); prints ``RESULT {json}`` last.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def warm(args: dict[str, Any], prometheus_url: str) -> dict[str, Any]:
    """Every read of the stage's window sent to ``prometheus_url`` by another process; its figures."""
    found = subprocess.run(
        [sys.executable, __file__, json.dumps({**args, "prometheus_url": prometheus_url})],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        raise RuntimeError(f"the Prometheus warm-up failed: {found.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(found.stdout.strip().splitlines()[-1].removeprefix("RESULT "))
    return result


def read_window(args: dict[str, Any]) -> dict[str, Any]:
    """Every plan's reads of every chunk of the window, as ``collect_window`` sends them."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    from fleet import settings_of, window_of

    from attribution.collectors.profiles import plans
    from attribution.collectors.run import chunk_windows, clients_for, fetch

    settings = settings_of(args, args["url"], args["prometheus_url"])
    todo = plans(settings)
    clients = clients_for(settings, todo)
    began = time.perf_counter()
    windows = chunk_windows(settings, *window_of(args))
    for window in windows:
        for plan in todo:
            fetch(clients[plan.source.name], settings, plan, *window)
    for client in clients.values():
        client.close()
    seconds = round(time.perf_counter() - began, 2)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return {"chunks": len(windows), "plans": len(todo), "seconds": seconds, "peak_rss_mib": peak_mib}


if __name__ == "__main__":
    print("RESULT " + json.dumps(read_window(json.loads(sys.argv[1]))), flush=True)
