"""A real OpenAI client with OpenTelemetry's OpenAI instrumentation and the SDK's Prometheus exporter.

Run by tests/collectors/test_real_clients.py inside ``.venv-otel`` (scripts/ensure-client-venvs.sh), never
imported by the project: ``python otel_openai_client.py BASE_URL METRICS_PORT PLAN_JSON``. It serves the
exporter's ``/metrics`` on ``127.0.0.1:METRICS_PORT``, makes every call in the plan (a list of
``{"model", "words", "max_tokens"}``) with ``openai.OpenAI(base_url=BASE_URL)``, prints one JSON line with
the usage the endpoint answered, then keeps serving until its stdin closes.
"""

from __future__ import annotations

import json
import sys

import openai
from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import start_http_server


def main() -> None:
    base_url, port, plan = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    start_http_server(port, addr="127.0.0.1")
    provider = MeterProvider(metric_readers=[PrometheusMetricReader()])
    metrics.set_meter_provider(provider)
    OpenAIInstrumentor().instrument(meter_provider=provider)
    client = openai.OpenAI(base_url=base_url, api_key="sk-none", max_retries=0)
    answered = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
    for call in plan:
        response = client.chat.completions.create(
            model=call["model"],
            messages=[{"role": "user", "content": " ".join(["word"] * call["words"])}],
            max_tokens=call["max_tokens"],
        )
        assert response.usage is not None
        answered["requests"] += 1
        answered["prompt_tokens"] += response.usage.prompt_tokens
        answered["completion_tokens"] += response.usage.completion_tokens
    print(json.dumps(answered), flush=True)
    sys.stdin.read()  # serve /metrics until the test closes our stdin


if __name__ == "__main__":
    main()
