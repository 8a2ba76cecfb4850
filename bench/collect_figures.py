"""The collection's figures against its ceiling (issue 14 item 4), from bench_scale.py's stages.

The ceiling is the slower of Prometheus answering the same queries (fetch-only, measured right after each
collection, in its process and on its Prometheus) and Postgres taking the same rows (raw COPY); both time
the very rows and queries of the ``collect`` stage. The collection is run ``--collect-trials`` times (the
``collect`` stage, whose database the later stages use, then ``collect_trial_2`` ..., each into a fresh
database with its own warm-up and replay), and the figure is the median of the trials' fractions: a
bench-quick collection is 0.27 s, and one run of it varies by some 10% (Python's threads, Postgres and
Prometheus on the same two cores), so one trial decided the target by chance.
"""

from __future__ import annotations

import statistics
from typing import Any

TRIAL_PREFIX = "collect_trial_"


def trial_stages(st: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The span's collections by stage name, in the order they ran: ``collect`` first, then its trials."""
    return [("collect", st["collect"])] + [(n, f) for n, f in st.items() if n.startswith(TRIAL_PREFIX)]


def collect_ceiling(st: dict[str, Any]) -> dict[str, Any]:
    """Each trial's fraction of the ceiling (its own replay against it) by stage name, and their median.
    A trial that did not finish in its budget counts as 0, not as missing: it was the slowest, and
    leaving it out would raise the median. The median of the fractions is not the ratio of the two
    medians given beside it (each trial is paired with its own replay). The first trial's fraction is
    also given apart (``..._first``): what runs before session 18, with one trial, reported."""
    copy = st["raw_copy"]["seconds"]
    trials = trial_stages(st)
    done = [f for _, f in trials if not f.get("did_not_finish")]
    fractions = {
        name: 0.0 if f.get("did_not_finish") else round(max(f["fetch_only_seconds"], copy) / f["seconds"], 3)
        for name, f in trials
    }
    fetch = statistics.median(f["fetch_only_seconds"] for f in done)
    return {
        "collect_ceiling_rows_match": all(st["raw_copy"]["rows"] == f["rows"] for f in done),
        "collect_ceiling": "fetch_only" if fetch >= copy else "raw_copy",
        "collect_trials": len(trials),
        "collect_trials_not_finished": len(trials) - len(done),
        "collect_seconds_median": statistics.median(f["seconds"] for f in done),
        "fetch_only_seconds_median": fetch,
        "collect_fraction_of_ceiling": round(statistics.median(fractions.values()), 3),
        "collect_fraction_of_ceiling_trials": fractions,
        "collect_fraction_of_ceiling_first": fractions["collect"],
    }
