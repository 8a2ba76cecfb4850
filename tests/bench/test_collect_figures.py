"""The collection's ceiling figure (bench/collect_figures.py): the median of the trials' own fractions,
an unfinished trial counted as 0 (it was the slowest; left out, it would raise the median)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from collect_figures import collect_ceiling


def _trial(seconds: float, fetch: float, rows: int = 100) -> dict[str, Any]:
    return {"seconds": seconds, "fetch_only_seconds": fetch, "rows": rows}


def _stages(**trials: dict[str, Any]) -> dict[str, Any]:
    return {"collect_1h": _trial(9.0, 1.0), "raw_copy": {"seconds": 0.05, "rows": 100}, **trials}


def test_the_figure_is_the_median_of_each_trials_own_fraction() -> None:
    trials = {"collect_trial_2": _trial(0.25, 0.14), "collect_trial_3": _trial(0.2, 0.1)}
    found = collect_ceiling(_stages(collect=_trial(0.3, 0.12), **trials))
    assert found["collect_fraction_of_ceiling_trials"] == {
        "collect": 0.4,
        "collect_trial_2": 0.56,
        "collect_trial_3": 0.5,
    }
    assert found["collect_fraction_of_ceiling"] == 0.5
    assert found["collect_fraction_of_ceiling_first"] == 0.4
    assert found["collect_seconds_median"] == 0.25 and found["fetch_only_seconds_median"] == 0.12
    assert found["collect_ceiling"] == "fetch_only" and found["collect_ceiling_rows_match"]
    assert found["collect_trials"] == 3 and found["collect_trials_not_finished"] == 0


def test_an_unfinished_trial_counts_as_zero_not_as_missing() -> None:
    found = collect_ceiling(
        _stages(
            collect=_trial(0.2, 0.12),
            collect_trial_2=_trial(0.2, 0.11),
            collect_trial_3={"did_not_finish": True, "budget_seconds": 300.0},
        )
    )
    assert found["collect_fraction_of_ceiling_trials"]["collect_trial_3"] == 0.0
    assert found["collect_fraction_of_ceiling"] == 0.55  # of 0.6, 0.55 and 0; without the 0 it would be 0.575
    assert found["collect_trials_not_finished"] == 1


def test_the_raw_copy_is_the_ceiling_when_it_is_the_slower() -> None:
    stages = _stages(collect=_trial(0.5, 0.1, rows=99))
    stages["raw_copy"]["seconds"] = 0.2
    found = collect_ceiling(stages)
    assert found["collect_ceiling"] == "raw_copy" and found["collect_fraction_of_ceiling"] == 0.4
    assert not found["collect_ceiling_rows_match"]  # 99 rows collected, 100 copied
