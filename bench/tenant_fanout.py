"""A seed of many tenants made from a seed of fewer, in SQL: each collected usage row of a tenant is split
among some of that tenant's ``factor`` children, its counters divided exactly.

Why: a simulated 2-hour seed of 10,000 tenants is 12 GB of OpenMetrics (32 M samples), which promtool
holds in memory and did not ingest in a 420 s budget on this machine (docs/performance.md). The
attribution job's cost grows with the rows and the distinct (pool, tenant, tier) keys it reads, not with
where they came from, so the tenant axis can be grown in the database instead.

How many rows: in the simulator, 10x the tenants (100 → 1,000) gave 4.6x the usage rows, about
``factor ** 0.66``. Each row here goes to ``m`` consecutive children (modulo ``factor``), ``m`` between 1
and ``2 * round(factor ** 0.66) - 1`` by a hash of the row's key, so the rows grow by about
``factor ** 0.66`` on average (5.0x for a factor of 10, against the simulator's 4.6x), and every
child appears in most hours. Child 0 keeps the parent's name
(a reservation held by name still matches); the others are ``<tenant>-f<k>``.

What is kept exactly: per (interval, pool, tier), the sums of ``requests``, ``prompt_tokens`` and
``generation_tokens`` (integer division, the remainder to the first children); ``kv_token_seconds`` is
divided as a double, equal to within rounding. GPU and KV samples are untouched. A benchmark's input,
not a test fixture: nothing here is used by the product.
"""

from __future__ import annotations

from sqlalchemy import text

from attribution.store.session import make_engine

#: Exponent of rows against tenants measured on the simulator (100 → 1,000 tenants: 4.6x the rows).
ROWS_EXPONENT = 0.66

_COLUMNS = (
    "interval_start, pool, tenant, tier, requests, prompt_tokens, generation_tokens, kv_token_seconds, "
    "cluster"
)

_SPLIT = """
CREATE TABLE tenant_usage_fanned AS
SELECT u.interval_start, u.pool,
       CASE WHEN (s.k0 + j) % :factor = 0 THEN u.tenant
            ELSE u.tenant || '-f' || ((s.k0 + j) % :factor)::text END AS tenant,
       u.tier,
       u.requests / s.m + (j < u.requests % s.m)::int AS requests,
       u.prompt_tokens / s.m + (j < u.prompt_tokens % s.m)::int AS prompt_tokens,
       u.generation_tokens / s.m + (j < u.generation_tokens % s.m)::int AS generation_tokens,
       u.kv_token_seconds / s.m AS kv_token_seconds,
       u.cluster
FROM tenant_usage AS u
CROSS JOIN LATERAL (
    SELECT 1 + (h % :spread)::int AS m, ((h / :spread) % :factor)::int AS k0
    FROM (SELECT abs(hashtextextended(u.interval_start::text || u.pool || u.tenant || u.tier, 0)) AS h) AS x
) AS s
CROSS JOIN LATERAL generate_series(0, s.m - 1) AS j
"""


def spread_of(factor: int) -> int:
    """The hash's modulus: ``m`` is uniform on ``1 .. spread``, mean ``(spread + 1) / 2 ≈ factor ** 0.66``,
    never more than ``factor`` children (each child once per row)."""
    return max(1, min(factor, 2 * round(factor**ROWS_EXPONENT) - 1))


def fan_out_tenants(url: str, factor: int) -> dict[str, int]:
    """Replace ``tenant_usage`` at ``url`` by its split into ``factor`` children per tenant; returns the
    rows and distinct tenants before and after, and the counters' sums (equal before and after)."""
    if factor < 2:
        raise ValueError(f"a fan-out needs a factor of at least 2, not {factor}")
    sums = "count(*), count(DISTINCT tenant), sum(requests), sum(prompt_tokens), sum(generation_tokens)"
    engine = make_engine(url)
    with engine.begin() as conn:
        before = conn.execute(text(f"SELECT {sums} FROM tenant_usage")).one()
        conn.execute(text("DROP TABLE IF EXISTS tenant_usage_fanned"))
        conn.execute(text(_SPLIT), {"factor": factor, "spread": spread_of(factor)})
        after = conn.execute(text(f"SELECT {sums} FROM tenant_usage_fanned")).one()
        if tuple(before[2:]) != tuple(after[2:]):
            raise AssertionError(f"the fan-out changed the counters' sums: {before[2:]} -> {after[2:]}")
        conn.execute(text("TRUNCATE tenant_usage"))
        fanned = f"INSERT INTO tenant_usage ({_COLUMNS}) SELECT {_COLUMNS} FROM tenant_usage_fanned"
        conn.execute(text(fanned))
        conn.execute(text("DROP TABLE tenant_usage_fanned"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE tenant_usage"))
    engine.dispose()
    return {
        "factor": factor,
        "rows_before": int(before[0]),
        "rows_after": int(after[0]),
        "tenants_before": int(before[1]),
        "tenants_after": int(after[1]),
    }
