"""The reporting API's and the console's settings: paging, caching, limits and the session secret."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from attribution.config.types import StrictModel


class ApiConfig(StrictModel):
    """The reporting API: page sizes of cursor-paged lists, how many windows' line sets it keeps in memory
    (reused until the next attribution run), and the longest usage series it answers, in points."""

    default_page_size: Annotated[int, Field(ge=1, le=10_000)] = 100
    """Line items per page when a request gives no ``limit``."""
    max_page_size: Annotated[int, Field(ge=1, le=10_000)] = 1000
    """The cap on ``limit``: a larger one is served this many."""
    cached_windows: Annotated[int, Field(ge=0, le=1000)] = 32
    """Windows whose line sets stay in memory until the next attribution run; 0 reads every time."""
    key_cache_seconds: Annotated[float, Field(ge=0, le=60)] = 5.0
    """How long a verified API key is trusted without reading its row again: a revoked key is refused
    within this many seconds on every worker and replica (docs/security.md). 0 checks every request."""
    results_fresh_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0
    """How long the results' version (the last attribution run and the period's state), once read, is
    trusted for a kept chargeback without reading it again: an attribution run or a close that commits is
    seen by every request that starts this many seconds later, on every worker (docs/performance.md). 0
    reads it on every request."""
    max_series_points: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    """The most buckets a usage or pool series may have; more is a 422 (use a larger step)."""
    console_price_list: Path | None = None
    """A TOML price list (docs/reports.md) the console's context-tier page sets against each tier's cost:
    revenue, margin and which tiers subsidise which. Unset: the page shows cost only."""
    session_secret_file: Path | None = None
    """A file holding the console's session secret (at least 32 bytes, the same on every replica and
    worker): session cookies are signed with it and the API key's stored digest, so reading the database
    alone cannot forge a session. Unset: a random secret per process, and console sessions end when the
    process restarts and work with one worker and one replica only (docs/security.md)."""
    max_body_bytes: Annotated[int, Field(ge=1024, le=1 << 30)] = 1 << 20
    """The largest request body, in bytes; a larger one is a 413 before it is read or a key is checked."""
    rate_limit_per_minute: Annotated[int, Field(ge=0, le=1_000_000)] = 120
    """Expensive requests (pools, tiers, coverage, usage series, exports) a key may make per minute, per
    replica (an in-process token bucket); over it is a 429 with ``Retry-After``. 0 turns it off."""
    rate_limit_burst: Annotated[int, Field(ge=1, le=1_000_000)] = 30
    """How many expensive requests a key may make at once before the per-minute rate applies."""
