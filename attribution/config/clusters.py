"""Clusters: a deployment attributes several clusters into one ledger, each with its own sources,
inventory, prices, pools and policies (``[[clusters]]``).

A config without ``[[clusters]]`` is one cluster named :data:`DEFAULT_CLUSTER` (or ``cluster``), made of
the top-level tables, as it always was. A ``[[clusters]]`` table sets only what differs: a key it leaves
out is taken from the top level, so prices shared by every cluster are written once.

A cluster's name is stored in every per-cluster row and is a label, a filter value and a FOCUS
``SubAccountId``, so it has one canonical form (a DNS label: lower case, digits, ``-``), checked here; a
second spelling of the same cluster would split its ledger in two.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from attribution.config.pools import PolicyConfig, PoolConfig
from attribution.config.pricing import GpuPrice, OverheadConfig, ReservationConfig
from attribution.config.sources import SourceConfig
from attribution.config.types import StrictModel
from attribution.model.vocabulary import DEFAULT_CLUSTER

__all__ = ["CLUSTER_PARTS", "DEFAULT_CLUSTER", "ClusterConfig", "ClusterName", "canonical_cluster"]

_CANONICAL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

#: The columns of a cluster table that override the top level's, in the order :meth:`for_cluster` applies.
CLUSTER_PARTS = ("sources", "inventory", "gpu_prices", "pools", "policies", "reservations", "overheads")


def canonical_cluster(name: str) -> str:
    """``name`` if it is canonical (a DNS label of at most 63 characters), else a one-line error."""
    if not _CANONICAL.match(name):
        raise ValueError(
            f"cluster name {name!r} is not canonical: use lower-case letters, digits and '-' "
            "(a DNS label, at most 63 characters, not starting or ending with '-')"
        )
    return name


ClusterName = Annotated[str, AfterValidator(canonical_cluster)]


class ClusterConfig(StrictModel):
    """One cluster of the deployment. Every part left out (None) is the top level's."""

    name: ClusterName
    """The cluster's canonical name: the ``cluster`` of its rows, filters and FOCUS ``SubAccountId``."""
    prometheus_url: str | None = None
    """Shorthand for one source named ``prometheus`` at this URL, as at the top level."""
    sources: list[SourceConfig] | None = None
    """The cluster's Prometheus-API sources (default: the top level's ``sources``)."""
    inventory: dict[str, Annotated[int, Field(ge=0)]] | None = None
    """The cluster's GPUs by type (default: the top level's ``inventory``)."""
    gpu_prices: list[GpuPrice] | None = None
    """The cluster's GPU prices (default: the top level's ``gpu_prices``)."""
    pools: list[PoolConfig] | None = None
    """The cluster's pools (default: the top level's ``pools``)."""
    policies: PolicyConfig | None = None
    """The cluster's fixed, idle and settlement policies (default: the top level's)."""
    reservations: list[ReservationConfig] | None = None
    """The cluster's reservations of its pools (default: the top level's)."""
    overheads: list[OverheadConfig] | None = None
    """The cluster's monthly overheads (default: the top level's ``overheads``)."""
