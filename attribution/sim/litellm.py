"""LiteLLM proxy (1.110.2) metrics per tenant: one virtual key and team per tenant profile.

Label names and their order are those of ``PrometheusMetricLabels`` in LiteLLM 1.110.2
(``litellm/types/integrations/prometheus.py``) with ``org_id`` and ``org_alias`` appended, as
``get_labels`` does for these metrics. Unset values are the string ``None``, as prometheus_client writes
Python's None. A tenant is ``team`` (a team id, here a UUID derived from the tenant's name),
``team_alias`` (the tenant's name) and ``api_key_alias`` (``<tenant>-key``); ``end_user`` stays ``None``
(LiteLLM fills it only with ``enable_end_user_cost_tracking_prometheus_only``).

Counters move when a request completes (tokens, ``status_code="200"``) or fails (``status_code="500"`` and
``litellm_proxy_failed_requests_metric_total`` with ``Hosted_vllm.APIConnectionError``). The latency
histograms are observed at completion: total latency from the gateway's arrival (it includes time held
while an engine restarts), LLM API latency and time to first token from the engine's (last) arrival.
A series appears with its first observation.
"""

from __future__ import annotations

import hashlib
import uuid

import numpy as np

from attribution.sim.buckets import LITELLM_LATENCY_SECONDS
from attribution.sim.chunk import Chunk, SimContext
from attribution.sim.cluster import PoolSpec, TenantProfile
from attribution.sim.counters import Births, CounterBank, HistogramBank
from attribution.sim.exposition import Family, HistogramRows, Rows, format_labels, python_float

NONE = "None"
ROUTE = "/v1/chat/completions"
USER_AGENT = "OpenAI/Python 1.109.1"
FAILURE_CLASS = "Hosted_vllm.APIConnectionError"

_IDENTITY = ("end_user", "hashed_api_key", "api_key_alias")
_TEAM = ("team", "team_alias", "user")
_TAIL = ("model_id", "api_provider")
_ORG = ("org_id", "org_alias")
_CALLER = ("route", "client_ip", "user_agent")
TOTAL_REQUESTS = (*_IDENTITY, "requested_model", *_TEAM, "status_code", "user_email", *_CALLER, *_TAIL, *_ORG)
FAILED_REQUESTS = (*_IDENTITY, "requested_model", *_TEAM, "user_email", "exception_status", "exception_class",
                   *_CALLER, *_TAIL, *_ORG)  # fmt: skip
TOKENS = (*_IDENTITY, "model", *_TEAM, "user_email", "requested_model", *_TAIL, *_ORG)
TOTAL_LATENCY = ("model_group", *_IDENTITY, "requested_model", *_TEAM, "model", *_TAIL, "service_tier", *_ORG)
API_LATENCY = ("model_group", "model", "hashed_api_key", "api_key_alias", "team", "team_alias",
               "requested_model", "end_user", "user", *_TAIL, "service_tier", *_ORG)  # fmt: skip

COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("litellm_proxy_total_requests_metric",
     "Total number of requests made to the proxy server - track number of client side requests", "requests"),
    ("litellm_proxy_failed_requests_metric", "Total number of failed responses from proxy - the client did "
     "not get a success response from litellm proxy", "failed"),
    ("litellm_input_tokens_metric", "Total number of input tokens from LLM requests", "input"),
    ("litellm_output_tokens_metric", "Total number of output tokens from LLM requests", "output"),
    ("litellm_total_tokens_metric", "Total number of input + output tokens from LLM requests", "total"),
)  # fmt: skip
HISTOGRAMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("litellm_request_total_latency_metric", "End-to-end latency (seconds) for a request to LiteLLM Proxy "
     "Server, from the moment the request reached the proxy through the end of processing -- includes "
     "authentication, pre-call hooks, the LLM API call, and post-call processing", TOTAL_LATENCY),
    ("litellm_llm_api_latency_metric", "Total latency (seconds) for a models LLM API call", API_LATENCY),
    ("litellm_llm_api_time_to_first_token_metric", "Time to first token for a models LLM API call",
     API_LATENCY),
)  # fmt: skip


def tenant_identity(tenant: TenantProfile, pool: PoolSpec) -> dict[str, str]:
    """The LiteLLM label values of one tenant profile (deterministic in the names)."""
    provider = "hosted_vllm" if pool.engine == "vllm" else "openai"
    digest = hashlib.sha256(tenant.name.encode()).digest()
    return {
        "end_user": NONE,
        "hashed_api_key": hashlib.sha256(f"sk-{tenant.name}".encode()).hexdigest(),
        "api_key_alias": f"{tenant.name}-key",
        "team": str(uuid.UUID(bytes=digest[:16], version=4)),
        "team_alias": tenant.name,
        "user": NONE,
        "user_email": NONE,
        "requested_model": pool.served_model_name,
        "model_group": pool.served_model_name,
        "model": f"{provider}/{pool.served_model_name}",
        "model_id": hashlib.sha256(f"deployment:{pool.name}".encode()).hexdigest(),
        "api_provider": provider,
        "route": ROUTE,
        "client_ip": f"10.42.{digest[16]}.{digest[17]}",
        "user_agent": USER_AGENT,
        "service_tier": NONE,
        "org_id": NONE,
        "org_alias": NONE,
        "exception_status": "500",
        "exception_class": FAILURE_CLASS,
    }


class LitellmBuilder:
    def __init__(self, context: SimContext, target: int) -> None:
        spec = context.spec
        self.context, self.target = context, target
        self.n_tiers = context.n_tiers
        pools = {pool.name: pool for pool in spec.pools}
        ids = [tenant_identity(t, pools[t.pool]) for t in spec.tenants]
        self.n = len(ids)

        def labels(names: tuple[str, ...], extra: dict[str, str] | None = None) -> list[str]:
            return [format_labels(tuple((k, {**i, **(extra or {})}[k]) for k in names)) for i in ids]

        self.labels = {
            "requests": labels(TOTAL_REQUESTS, {"status_code": "200"})
            + labels(TOTAL_REQUESTS, {"status_code": "500"}),
            "failed": labels(FAILED_REQUESTS),
            "input": labels(TOKENS),
            "output": labels(TOKENS),
            "total": labels(TOKENS),
            **{name: labels(names) for name, _, names in HISTOGRAMS},
        }  # fmt: skip
        self.targets = {key: [target] * len(labels) for key, labels in self.labels.items()}
        self.banks = {key: CounterBank() for _, _, key in COUNTERS}
        self.births = {key: Births() for key in ("ok", "failed")}
        self.histograms = {name: HistogramBank(LITELLM_LATENCY_SECONDS) for name, _, _ in HISTOGRAMS}
        self.les = [python_float(b) for b in LITELLM_LATENCY_SECONDS] + ["+Inf"]

    def families(self, chunk: Chunk) -> list[Family]:
        done, s, n = chunk.completions, chunk.scrapes, self.n
        profile = done.group // self.n_tiers
        failed_profile = chunk.failure_group // self.n_tiers
        ok_born = self.births["ok"].update(done.finish, profile, n)
        bad_born = self.births["failed"].update(chunk.failure_time, failed_profile, n)
        f = np.float64
        times = np.concatenate([done.finish, chunk.failure_time])
        status_rows = np.concatenate([profile, failed_profile + n])
        values = {
            "requests": self.banks["requests"].values(s, times, status_rows, 2 * n),
            "failed": self.banks["failed"].values(s, chunk.failure_time, failed_profile, n),
            "input": self.banks["input"].values(s, done.finish, profile, n, done.prompt.astype(f)),
            "output": self.banks["output"].values(s, done.finish, profile, n, done.output.astype(f)),
            "total": self.banks["total"].values(
                s, done.finish, profile, n, (done.prompt + done.output).astype(f)
            ),
        }
        born = {
            "requests": np.concatenate([ok_born, bad_born]),
            "failed": bad_born,
            "input": ok_born,
            "output": ok_born,
            "total": ok_born,
        }
        families = []
        for name, help_text, key in COUNTERS:
            rows = np.flatnonzero(born[key] < chunk.end)
            present = s[None, :] >= born[key][rows, None]
            ints = np.rint(values[key][rows]).astype(np.int64)
            out = Rows(f"{name}_total", self.labels[key], self.targets[key], ints, rows, present)
            families.append(Family(name, "counter", help_text, [out]))
        if self.context.include_histograms:
            families.extend(self._histograms(chunk, profile, ok_born))
        return families

    def _histograms(self, chunk: Chunk, profile: np.ndarray, born: np.ndarray) -> list[Family]:
        done = chunk.completions
        observed = {
            "litellm_request_total_latency_metric": done.finish - done.gw_arrival,
            "litellm_llm_api_latency_metric": done.finish - done.arrival,
            "litellm_llm_api_time_to_first_token_metric": done.first_token - done.arrival,
        }
        rows = np.flatnonzero(born < chunk.end)
        present = chunk.scrapes[None, :] >= born[rows, None]
        families = []
        for name, help_text, _ in HISTOGRAMS:
            cumulative, sums = self.histograms[name].values(
                chunk.scrapes, done.finish, profile, self.n, observed[name]
            )
            histogram = HistogramRows(
                name,
                self.labels[name],
                self.targets[name],
                self.les,
                cumulative[rows],
                sums[rows],
                rows,
                present,
            )
            families.append(Family(name, "histogram", help_text, [histogram]))
        return families
