"""What is attributed to whom: the pools (one deployment of one model each), the context tiers, the
tenants, and the policies that split fixed and idle cost (their values are the model's vocabulary)."""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Any

from pydantic import Field, field_validator

from attribution.catalog.registry import unknown_model_message
from attribution.config.types import (
    SELECTOR_FLAGS,
    VALIDATING_CATALOG,
    LabelRules,
    StrictModel,
    check_regexes,
    fraction_to_ppm,
    unreserved_name,
)
from attribution.model.vocabulary import FixedPolicy, IdlePolicy, RecoveryPolicy, SettlementWindow


class PoolConfig(StrictModel):
    """One deployment of one model.

    ``gpu_selector`` maps dcgm-exporter labels to regular expressions that must all match in full (a label
    ``pod`` also matches ``exported_pod``, the name a ServiceMonitor with honorLabels false gives it).
    Engine and gateway series belong to the pool when their model label (``model_name``, ``model``, per
    the source profile) equals ``served_model_name`` or one of ``model_aliases`` (the names a gateway
    knows it by, e.g. a LiteLLM model group).
    """

    name: str
    model: str
    served_model_name: str
    tensor_parallel_size: Annotated[int, Field(ge=1)] = 1
    gpu_selector: LabelRules
    model_aliases: list[str] = []
    fixed_policy: FixedPolicy | None = None
    idle_policy: IdlePolicy | None = None
    idle_warm_policy: IdlePolicy | None = None
    """The pool's policy for ``idle_warm`` (weights loaded, no traffic); unset: as for its idle."""
    kv_headroom_policy: IdlePolicy | None = None
    """The pool's policy for ``kv_headroom`` (free KV cache while serving); unset: as for its idle."""
    max_num_seqs: Annotated[int, Field(ge=1)] = 256
    """The engines' ``max_num_seqs`` (vLLM's default 256): the denominator of batch occupancy. vLLM's
    ``cache_config_info`` does not carry it, so the efficiency report reads it from here."""
    target_occupancy: str = "0.8"
    """The batch occupancy (0, 1] the operator aims for: below it, the efficiency report prices the
    headroom per 1M tokens. A decimal string."""

    @field_validator("target_occupancy", mode="before")
    @classmethod
    def _occupancy(cls, v: Any) -> str:
        if isinstance(v, float):
            raise ValueError("target_occupancy must be a decimal string, not a float")
        fraction_to_ppm(str(v))
        return str(v)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        return unreserved_name(v, "pool name")

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        catalog = VALIDATING_CATALOG.get()
        if not catalog.has_model(v):
            raise ValueError(unknown_model_message(v, catalog))
        return v

    @field_validator("gpu_selector")
    @classmethod
    def _selector(cls, v: LabelRules) -> LabelRules:
        if not v:
            raise ValueError("needs at least one label rule, e.g. {pod = 'llama-405b-.*'}")
        return check_regexes(v, SELECTOR_FLAGS)


class TierConfig(StrictModel):
    """Context-tier boundaries in tokens (k = 1024); a request's tier is by prompt + generated tokens."""

    boundaries_tokens: list[int] = [4096, 32768, 131072]

    @field_validator("boundaries_tokens")
    @classmethod
    def _ascending(cls, v: list[int]) -> list[int]:
        if not v or any(b <= 0 for b in v) or any(a >= b for a, b in pairwise(v)):
            raise ValueError("must be a non-empty, strictly ascending list of positive token counts")
        return v

    @property
    def names(self) -> list[str]:
        return tier_names(self.boundaries_tokens)


def _k(tokens: int) -> str:
    if tokens == 0 or tokens % 1024:
        return str(tokens)
    return f"{tokens // 1024}k"


def tier_names(boundaries_tokens: list[int]) -> list[str]:
    """Names like ``0-4k``, ``4k-32k``, ``128k+``: the label values the gateway contract uses."""
    edges = [0, *boundaries_tokens]
    names = [f"{_k(a)}-{_k(b)}" for a, b in pairwise(edges)]
    return [*names, f"{_k(boundaries_tokens[-1])}+"]


class TenantConfig(StrictModel):
    """How tenants are read from gateway series. An empty ``known`` list accepts every label value."""

    label: str = "tenant"
    known: list[str] = []

    @field_validator("known")
    @classmethod
    def _canonical(cls, v: list[str]) -> list[str]:
        """Known tenants as the collectors store them (:func:`canonical_name`), or refused, as is a
        reserved name (a tenant ``__idle__`` would merge with the idle line)."""
        return [unreserved_name(name, "tenant") for name in v]


class PolicyConfig(StrictModel):
    """How cost without a direct user is settled. Each kind of idle has a policy of its own, unset by
    default, which then is ``idle``'s: an old configuration settles exactly as it did. A pool's own
    setting beats a cluster-wide one: ``idle_warm_policy``, then ``idle_policy``, then ``idle_warm``,
    then ``idle`` (``kv_headroom`` likewise)."""

    fixed: FixedPolicy = FixedPolicy.PROPORTIONAL
    idle: IdlePolicy = IdlePolicy.SHARE
    idle_cold: IdlePolicy | None = None
    idle_warm: IdlePolicy | None = None
    kv_headroom: IdlePolicy | None = None
    recovery: RecoveryPolicy = RecoveryPolicy.PLATFORM
    settlement_window: SettlementWindow = SettlementWindow.HOUR
