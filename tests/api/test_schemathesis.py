"""schemathesis against the live OpenAPI schema: generated requests, valid and invalid, to every
operation with an admin key and with a tenant key (``tenant:acme``), checked for server errors,
undocumented status codes, wrong content types and bodies that break the schema. The data is the
two-tenant hour of ``api``.

Run through schemathesis' Python API (one hypothesis test per operation and generation mode) rather than
its pytest plugin, whose fixture loader does not run on pytest 9. By hand, against a running server:
``schemathesis run http://127.0.0.1:8000/openapi.json -H "Authorization: Bearer $KEY" --max-examples 50``.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, positive_data_acceptance
from schemathesis.core.parameters import ParameterLocation

from attribution.api.app import create_app
from attribution.timeutil import iso
from tests.builders import T0, small_cluster_settings
from tests.support.api import END, Api, bearer

#: the operations, listed at collection from the schema alone (no database is touched to build it)
_PATHS = create_app(small_cluster_settings()).openapi()["paths"]
OPERATIONS = [
    (f"{m.upper()} {path}", bool(op.get("parameters")))
    for path, ops in _PATHS.items()
    for m, op in ops.items()
]
#: invalid requests need a parameter to make invalid
CASES = [
    (label, mode, key)
    for label, has_params in OPERATIONS
    for mode in GenerationMode
    for key in ("admin", "acme")
    if has_params or mode is GenerationMode.POSITIVE
]
MAX_EXAMPLES = 25
#: Schema-valid requests may still be refused: a window whose end is before its start, or longer than the
#: configured maximum, is a 422 by design, and OpenAPI cannot express such constraints between parameters.
EXCLUDED = [positive_data_acceptance]
#: /readyz answers 503 (with the error body) while a dependency is down, here Prometheus: its contract.
EXCLUDED_BY_OPERATION = {"GET /readyz": [not_a_server_error]}
#: no Prometheus runs here, and the hour of data is not a whole period, which cannot close
MAY_NOT_SUCCEED = {"GET /readyz", "POST /v1/periods/{period}/close"}


@pytest.mark.parametrize(
    ("label", "mode", "key"), CASES, ids=[f"{label}-{mode.value}-{key}" for label, mode, key in CASES]
)
def test_operation_conforms_to_its_schema(api: Api, label: str, mode: GenerationMode, key: str) -> None:
    """With the admin key every operation must also succeed sometimes; with the tenant key most are a 403
    or a 404 by design, and none may be a 500 or break its schema."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    operation = next(r.ok() for r in schema.get_all_operations() if r.ok().label == label)
    headers = bearer(api.keys[key])
    excluded = EXCLUDED + EXCLUDED_BY_OPERATION.get(label, [])
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE:
        # half the examples start from real values of the data, so valid requests reach the reports
        strategy = st.one_of(strategy, operation.as_strategy(generation_mode=mode, **_known(label)))
    statuses: list[int] = []

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def check(case: schemathesis.Case) -> None:
        # a negative case whose mutation is the Authorization header itself (left out, or not a bearer
        # token) is sent as generated: adding the real key would make it valid and its 200 a "failure"
        sent = {} if _headers_negated(case) else headers
        statuses.append(case.call_and_validate(headers=sent, excluded_checks=excluded).status_code)

    check()
    if mode is GenerationMode.POSITIVE and label not in MAY_NOT_SUCCEED and key == "admin":
        assert any(200 <= s < 300 for s in statuses), (
            f"no generated request succeeded: {sorted(set(statuses))}"
        )


def _headers_negated(case: schemathesis.Case) -> bool:
    """Whether schemathesis generated this case's headers in negative mode (its mutation is in them)."""
    info = case.meta.components.get(ParameterLocation.HEADER) if case.meta is not None else None
    return info is not None and info.mode is GenerationMode.NEGATIVE


def _known(label: str) -> dict[str, Any]:
    """Real values for the operation's parameters: a window with lines, a known tenant, pool, period."""
    path = {name: value for name, value in (("tenant", "acme"), ("pool", "small"), ("period", "2026-11"))}
    path = {name: value for name, value in path.items() if "{" + name + "}" in label}
    if "pricing" in label:
        bands = [{"from_tokens": 0, "input_usd_per_million": "3.00", "output_usd_per_million": "15.00"}]
        return {"path_parameters": path, "query": {"period": "2026-11"}, "body": {"bands": bands}}
    if "focus" in label:
        query = {"period": "2026-11"}
    elif label.startswith("GET /v1") and "periods" not in label:
        query = {"start": iso(T0), "end": iso(END)}
    elif label.startswith("GET /allocation"):  # OpenCost's API
        query = {"window": f"{iso(T0)},{iso(END)}"}
    else:
        query = {}
    return {"path_parameters": path, "query": query}


def test_every_operation_is_covered() -> None:
    labels = {label for label, _ in OPERATIONS}
    assert len(labels) >= 14 and "POST /v1/periods/{period}/close" in labels
