"""Finding pools, tenants, tiers, engines and GPUs from labels, tolerant of the spellings scrapes produce.

Each role is a list of label names tried in order (the profile's default, or the source's override); each
name also matches ``exported_<name>`` (a ServiceMonitor with ``honorLabels: false``) and its other
capitalisations (dcgm-exporter's ``Hostname`` became ``hostname``).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from itertools import pairwise

from attribution.config import LabelNames, PoolConfig, Settings
from attribution.config.types import SELECTOR_FLAGS
from attribution.errors import ConfigError
from attribution.model.names import InvalidNameError, canonical_name
from attribution.model.vocabulary import NO_TIER, UNALLOCATED_TENANT

log = logging.getLogger(__name__)
TENANT_LABEL_SETTING = "$tenant_label"
#: Values exporters write for "no value" (LiteLLM writes None; its series limit folds label sets into
#: ``other``): such a tenant is unknown, so its usage is ``__unallocated__``, never dropped.
MISSING_VALUES = frozenset({"", "None", "none", "null", "<nil>", "other"})
#: dcgm-exporter's names with ``--use-old-namespace`` (transformation/const.go).
OLD_NAMES = {"pod": "pod_name", "namespace": "pod_namespace", "container": "container_name"}

DEFAULT_LABELS = LabelNames(
    tenant=[TENANT_LABEL_SETTING],
    model=["model_name", "model"],
    tier=[],
    engine=["pod", "instance"],
    engine_index=["engine"],
    gpu_uuid=["UUID", "uuid"],
    gpu_model=["modelName"],
    hostname=["Hostname", "hostname"],
)


@dataclass(frozen=True, slots=True)
class LabelPlan:
    """The label names one (source, profile) reads each role from. An empty ``tier`` means the profile
    has no tier label, and tiers are derived from mean context per interval (an estimate)."""

    tenant: tuple[str, ...]
    model: tuple[str, ...]
    tier: tuple[str, ...]
    engine: tuple[str, ...]
    engine_index: tuple[str, ...]
    gpu_uuid: tuple[str, ...]
    gpu_model: tuple[str, ...]
    hostname: tuple[str, ...]

    @classmethod
    def resolve(cls, settings: Settings, profile: LabelNames, source: LabelNames) -> LabelPlan:
        def pick(role: str) -> tuple[str, ...]:
            for names in (getattr(source, role), getattr(profile, role), getattr(DEFAULT_LABELS, role)):
                if names is not None:
                    return tuple(settings.tenants.label if n == TENANT_LABEL_SETTING else n for n in names)
            return ()

        return cls(*(pick(f.name) for f in fields(cls)))


def label(labels: Mapping[str, str], name: str) -> str | None:
    """A label's value, also under the names scrapes give it: ``exported_<name>`` and other case.

    ``exported_<name>`` comes first: it exists only when the exposition carried ``<name>`` and the scrape
    (honorLabels false) overwrote it with the target's own, e.g. dcgm-exporter's ``pod`` (the GPU's
    workload) becomes ``exported_pod`` while ``pod`` names the exporter's pod. dcgm-exporter's
    ``--use-old-namespace`` names (``pod_name``, ``pod_namespace``, ``container_name``) come next: no
    scrape sets them, so they always name the workload, while ``pod`` may be the exporter's.
    """
    for key in _spellings(name):
        value = labels.get(key)
        if value:
            return value
    return None


@functools.cache
def _spellings(name: str) -> tuple[str, ...]:
    """The keys :func:`label` tries for ``name``, in its order, each once: made once per name, not per
    series (a GPU chunk asks some 1,500 labels)."""
    old = OLD_NAMES.get(name)
    keys = (f"exported_{name}", old, f"exported_{old}") if old else (f"exported_{name}",)
    return tuple(dict.fromkeys((*keys, name, name.lower(), name.capitalize(), name.upper())))


def workload(labels: Mapping[str, str]) -> str | None:
    """``namespace/pod/container`` of the pod holding a GPU (or MIG instance), None without a pod label.

    Behind a ServiceMonitor the series of an idle GPU carries the exporter's own ``pod``: it names a
    workload that serves no pool, so the GPU is unallocated, which is right for idle hardware.
    """
    pod = first_label(labels, ("pod",))
    if pod is None:
        return None
    return f"{first_label(labels, ('namespace',)) or ''}/{pod}/{first_label(labels, ('container',)) or ''}"


def first_label(labels: Mapping[str, str], names: Sequence[str]) -> str | None:
    for name in names:
        value = label(labels, name)
        if value is not None and value.strip() not in MISSING_VALUES:
            return value.strip()
    return None


def pool_for_gpu(settings: Settings, labels: Mapping[str, str]) -> PoolConfig | None:
    """The one pool whose ``gpu_selector`` matches; a GPU two selectors match is a configuration error.

    First-match-wins would bill one pool's GPUs to another without a word: ``pod = "llama-8b-.*"`` also
    matches the pods of a ``llama-8b-batch`` deployment. A collector placing many GPUs builds
    :class:`GpuSelectors` once and asks it per series.
    """
    return GpuSelectors(settings.pools).pool_for(labels)


class GpuSelectors:
    """Every pool's ``gpu_selector``, compiled once: each rule's pattern must match its label in full.
    ASCII semantics, as Prometheus' RE2 has them: ``\\d`` and ``\\w`` must not match a pod named in
    Arabic-Indic digits into another pool. Per series, each label a selector names is looked up once,
    not once per pool: at 1,024 GPUs and 320 pools, a ``re.fullmatch`` and a label lookup per GPU and
    pool were a fifth of a collection's Python time (py-spy). And only the pools a series may match are
    tried: each pool is indexed by the literal prefix of one of its patterns (``llama-8b-`` of
    ``llama-8b-[0-9]+``, :func:`literal_prefix`), which every value it matches starts with; a pool
    without one is always tried."""

    def __init__(self, pools: Sequence[PoolConfig]) -> None:
        self._pools = [
            (
                pool,
                [(name, re.compile(pattern, SELECTOR_FLAGS)) for name, pattern in pool.gpu_selector.items()],
            )
            for pool in pools
        ]
        self._names = list(dict.fromkeys(name for _, rules in self._pools for name, _ in rules))
        self._always: list[int] = []
        self._index: dict[tuple[str, int], dict[str, list[int]]] = {}
        for j, pool in enumerate(pools):
            prefixes = [
                (len(p := literal_prefix(pattern)), name, p) for name, pattern in pool.gpu_selector.items()
            ]
            length, name, prefix = max(prefixes, default=(0, "", ""))
            if length:
                self._index.setdefault((name, length), {}).setdefault(prefix, []).append(j)
            else:
                self._always.append(j)

    def pool_for(self, labels: Mapping[str, str]) -> PoolConfig | None:
        """:func:`pool_for_gpu`, with the same answer and the same error."""
        values = {name: label(labels, name) for name in self._names}
        candidates = list(self._always)
        for (name, length), pools in self._index.items():
            value = values[name]
            if value is not None:
                candidates.extend(pools.get(value[:length], ()))
        found = []
        for j in sorted(candidates):  # loops, not all(...): no generator per GPU and pool
            pool, rules = self._pools[j]
            for name, regex in rules:
                value = values[name]
                if value is None or regex.fullmatch(value) is None:
                    break
            else:
                found.append(pool)
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            shown = {k: v for k, v in sorted(labels.items()) if k != "__name__"}
            raise ConfigError(
                f"a GPU matches the gpu_selector of pools {names}: make them exclusive ({shown})"
            )
        return found[0] if found else None


#: Characters with a meaning in a pattern: a literal prefix ends before the first of them.
_SPECIAL = frozenset(".^$*+?{}[]\\|()")


def literal_prefix(pattern: str) -> str:
    """The characters every full match of ``pattern`` starts with: its leading plain characters, less the
    last where a quantifier follows it (``ab?`` may match ``a``); none where the pattern has an
    alternative (``|``) or starts with a special character (``(?i)``, ``[a-z]``, ``\\d``)."""
    if "|" in pattern:
        return ""
    n = 0
    while n < len(pattern) and pattern[n] not in _SPECIAL:
        n += 1
    if n < len(pattern) and pattern[n] in "*+?{":
        n -= 1
    return pattern[: max(n, 0)]


def pool_for_model(settings: Settings, served_model_name: str | None) -> PoolConfig | None:
    """The pool serving a model under this name: its ``served_model_name`` or one of its aliases."""
    if served_model_name is None:
        return None
    for pool in settings.pools:
        if pool.served_model_name == served_model_name or served_model_name in pool.model_aliases:
            return pool
    return None


def engine_id(labels: Mapping[str, str], plan: LabelPlan) -> str:
    """``<pod or instance>/<engine index>``: vLLM's ``engine`` or SGLang's ``dp_rank``, default 0."""
    return f"{first_label(labels, plan.engine) or ''}/{first_label(labels, plan.engine_index) or '0'}"


def tenant_of(settings: Settings, labels: Mapping[str, str], names: Sequence[str] | None = None) -> str:
    """The billed party; missing or unknown values go to ``__unallocated__`` (MODEL.md).

    A value that is not a canonical name (:func:`canonical_name`: invisible, bidirectional or control
    characters, look-alike compatibility forms) is unknown too: its usage is counted on
    ``__unallocated__``, never dropped, and never billed under a name that looks like another tenant's.
    A value that only differs by its Unicode normalisation is billed under its NFC form."""
    value = first_label(labels, names if names is not None else (settings.tenants.label,))
    if value is None or value.startswith("__"):
        return UNALLOCATED_TENANT
    try:
        value = canonical_name(value, "tenant label")
    except InvalidNameError as exc:
        _warn_once(value, str(exc))
        return UNALLOCATED_TENANT
    if settings.tenants.known and value not in settings.tenants.known:
        return UNALLOCATED_TENANT
    return value


_WARNED: set[str] = set()


def _warn_once(value: str, why: str) -> None:
    """One warning per refused label value (at most 1,000 remembered): a gateway repeats it every scrape."""
    if value not in _WARNED and len(_WARNED) < 1000:
        _WARNED.add(value)
        log.warning("%s; its usage goes to %s", why, UNALLOCATED_TENANT)


def tier_of(settings: Settings, labels: Mapping[str, str], names: Sequence[str] = ("tier",)) -> str:
    value = first_label(labels, names)
    return value if value in settings.tiers.names else NO_TIER


def tier_for_context(settings: Settings, context_tokens: float) -> str:
    """The tier whose ``[lower, upper)`` holds ``context_tokens`` (prompt + generated)."""
    edges = [0, *settings.tiers.boundaries_tokens]
    for name, (low, high) in zip(settings.tiers.names, pairwise(edges), strict=False):
        if low <= context_tokens < high:
            return name
    return settings.tiers.names[-1]
