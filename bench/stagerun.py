"""One benchmark stage in its own process, bounded in time: its ``RESULT`` figures, or, when it runs past
its budget, ``did_not_finish`` with the last ``PROGRESS`` figures it printed (a partial figure) instead
of a hung run. Used by bench_scale.py and bench_scaling.py.

A stage script prints ``PROGRESS {json}`` lines as it goes (optional) and ``RESULT {json}`` last. On
the budget the stage's whole process group is killed (it may have started Prometheus or a server).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any


def _peak_rss_mib(pid: int) -> int | None:
    """VmHWM of a live process (the peak so far), read before it is killed."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


def _drain(stream: IO[str], into: list[str]) -> None:
    for line in stream:
        into.append(line)
        del into[:-500]  # only the last lines are ever read


def _last(lines: list[str], prefix: str) -> dict[str, Any] | None:
    found = [ln for ln in lines if ln.startswith(prefix)]
    return json.loads(found[-1].removeprefix(prefix)) if found else None


def run_stage(
    script: Path, name: str, args: dict[str, Any], budget_seconds: float | None, cwd: Path
) -> dict[str, Any]:
    """Run ``python script name 'json args'``; raise with its stderr if it fails, return its figures
    (``did_not_finish`` and ``partial`` if it ran past ``budget_seconds``)."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {name} ...", flush=True)
    proc = subprocess.Popen(
        [sys.executable, str(script), name, json.dumps(args, default=str)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        start_new_session=True,  # its own process group: killed whole on the budget
    )
    assert proc.stdout is not None and proc.stderr is not None
    out_lines: list[str] = []
    err_lines: list[str] = []
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, out_lines), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, err_lines), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        code = proc.wait(timeout=budget_seconds)
    except subprocess.TimeoutExpired:
        code = None
    if code is None:  # past the budget
        peak = _peak_rss_mib(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for reader in readers:
            reader.join()
        progress = _last(out_lines, "PROGRESS ")
        out: dict[str, Any] = {
            "did_not_finish": True,
            "budget_seconds": budget_seconds,
            "partial": progress,
            "peak_rss_mib": peak,
        }
        print(f"  did not finish in {budget_seconds:g} s; partial: {json.dumps(progress)}", flush=True)
        return out
    for reader in readers:
        reader.join()
    result = _last(out_lines, "RESULT ")
    if code != 0 or result is None:
        raise RuntimeError(f"stage {name} failed ({code}):\n{''.join(err_lines)[-4000:]}")
    shown = {k: v for k, v in result.items() if k != "files"}
    print(f"  {json.dumps(shown, default=str)}", flush=True)
    return result
