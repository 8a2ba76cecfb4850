"""Coverage of a window: the one function lives in :mod:`attribution.store.coverage` (the period-close
check, below the reports, uses it too); re-exported here for the reports and the API."""

from attribution.store.coverage import (
    MAX_GAPS,
    CoverageReport,
    Gap,
    PoolGatewayCoverage,
    SourceCoverageSummary,
    coverage_report,
    pool_gateway_coverage,
)

__all__ = [
    "MAX_GAPS",
    "CoverageReport",
    "Gap",
    "PoolGatewayCoverage",
    "SourceCoverageSummary",
    "coverage_report",
    "pool_gateway_coverage",
]
