#!/usr/bin/env bash
# Installs the real clients the "real clients" tests drive, each in its own virtualenv so their many
# dependencies never touch the project's .venv:
#   .venv-litellm  the LiteLLM proxy from PyPI (litellm[proxy] with prometheus_client, for its
#                  `callbacks: ["prometheus"]`), tests/collectors/test_real_litellm.py;
#   .venv-otel     the OpenAI Python client with OpenTelemetry's OpenAI instrumentation and the SDK's
#                  Prometheus exporter, tests/collectors/test_real_otel_genai.py.
# Idempotent: a stamp file marks a finished install. A failed install is reported and the script exits 0;
# the tests then skip and print the reason written to "<venv>/.install-failed" (CI must install them).
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
LITELLM_VERSION="1.108.7"
OTEL_OPENAI_VERSION="2.4b0"
# Bump when the pins below change, so an existing venv is rebuilt.
REVISION="r2"

install() {  # install VENV STAMP PACKAGES...
  local venv="$1" stamp="$2"; shift 2
  [ -f "$venv/$stamp" ] && return 0
  echo "installing $* into $venv ..."
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  if "$PY" -m venv "$venv" \
    && "$venv/bin/pip" install --quiet --upgrade pip \
    && "$venv/bin/pip" install --quiet "$@" 2>"/tmp/ensure-client-venvs.$$.err"; then
    touch "$venv/$stamp"
  else
    mkdir -p "$venv"
    { echo "pip install $* failed:"; grep -v "^WARNING: Location" "/tmp/ensure-client-venvs.$$.err" | tail -n 5 2>/dev/null; } \
      >"$venv/.install-failed"
    echo "note: $(head -n 1 "$venv/.install-failed") (see $venv/.install-failed); its test will skip" >&2
  fi
  rm -f "/tmp/ensure-client-venvs.$$.err"
}

install "${LITELLM_VENV:-.venv-litellm}" ".installed-litellm-$LITELLM_VERSION-$REVISION" \
  "litellm[proxy]==$LITELLM_VERSION" prometheus_client
install "${OTEL_VENV:-.venv-otel}" ".installed-otel-openai-$OTEL_OPENAI_VERSION-$REVISION" \
  "opentelemetry-instrumentation-openai-v2==$OTEL_OPENAI_VERSION" opentelemetry-sdk \
  opentelemetry-exporter-prometheus openai httpx "opentelemetry-util-genai<1"
exit 0
