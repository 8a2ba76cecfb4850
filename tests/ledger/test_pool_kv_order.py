"""Review finding: a pool's mean KV usage depended on the order its engines' rows were read.

``_pool_kv`` summed ``ratio x capacity`` over a pool's engines in the order ``kv_samples`` returned them
(no ORDER BY: heap order on Postgres). Float addition is not associative, so a pool of three or more
engines could get a ratio a bit apart, and KV in use (``round(ratio x capacity)``) a byte apart, moving a
micro-dollar between tenants and idle between two runs over the same rows.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from attribution.ledger.inputs import IntervalTelemetry, _pool_kv

ENGINE = st.tuples(
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    st.integers(min_value=1, max_value=2_000_000),
    st.integers(min_value=1, max_value=400_000),
)


@given(engines=st.lists(ENGINE, min_size=3, max_size=8), data=st.data())
def test_pool_kv_is_independent_of_row_order(
    engines: list[tuple[float, int, int]], data: st.DataObject
) -> None:
    rows = [("chat", ratio, tokens, bpt) for ratio, tokens, bpt in engines]
    shuffled = data.draw(st.permutations(rows))
    first = _pool_kv(IntervalTelemetry({}, list(rows), {}), {}, {})
    second = _pool_kv(IntervalTelemetry({}, list(shuffled), {}), {}, {})
    assert first == second
