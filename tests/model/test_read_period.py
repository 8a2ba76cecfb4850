"""``LineColumns.read_period``: a window whose lines say they did not read the period's weights has lines
that the stored weights of the period's other intervals cannot change. That is what lets ``attribution
attribute`` over a month run only such windows once (ledger/span.py ``attribute_settled``)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attribution.model.attribute import WHOLE_WINDOW, ClusterInterval, PeriodScope, Policies
from attribution.model.split import Usage
from attribution.model.vectorized import attribute_window_columns
from tests.support.windows import TENANTS, TIERS, H, Window, small_pool, windows

other_weights = st.dictionaries(
    st.sampled_from(["p", "q", "r"]),
    st.dictionaries(
        st.tuples(st.sampled_from([*TENANTS, "zed"]), st.sampled_from(TIERS)),
        st.integers(1, 10**6),
        min_size=1,
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(windows(), other_weights)
def test_lines_that_did_not_read_the_period_do_not_move_with_its_other_intervals(
    window: Window, weights: dict[str, dict[tuple[str, str], int]]
) -> None:
    pools, cluster, policies, scope = window
    columns, _ = attribute_window_columns(pools, cluster, policies, scope)
    if columns.read_period:
        return
    # every period the window's intervals fall in gets other stored weights
    periods = {scope.period_of(p.interval_start_s) for p in pools} | {
        scope.period_of(c.interval_start_s) for c in cluster
    }
    moved = PeriodScope(scope.period_of, {period: weights for period in periods})
    again, _ = attribute_window_columns(pools, cluster, policies, moved)
    assert again.to_dict() == columns.to_dict()


def test_idle_shared_by_the_settlement_windows_own_weights_did_not_read_the_period() -> None:
    used = small_pool({("a", "x"): Usage(1.0)})
    columns, _ = attribute_window_columns([used], [], Policies({}, settlement_window_seconds=60))
    assert not columns.read_period and columns.to_dict()


def test_idle_of_a_window_nobody_used_read_the_period_whatever_it_found() -> None:
    """Unused, its idle goes down the chain to the period: to an ``__idle__`` line when the period has
    no weights either, which other intervals' weights would change."""
    unused = small_pool({}, kv_usage_ratio=0.0)  # no request, no KV in use: all of it idle
    for scope in (WHOLE_WINDOW, PeriodScope(lambda _s: "2026-11", {"2026-11": {"p": {("a", "x"): 5}}})):
        columns, _ = attribute_window_columns([unused], [], Policies({}, settlement_window_seconds=60), scope)
        assert columns.read_period
    cluster_only = [ClusterInterval(H, 1000, 0)]
    columns, _ = attribute_window_columns([], cluster_only, Policies({}, settlement_window_seconds=60))
    assert columns.read_period
