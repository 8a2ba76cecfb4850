# The one entry point for people, CI and pre-commit. `make demo`, `make test`, `make lint`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SRC := attribution tests migrations bench

.PHONY: venv prometheus services demo test lint fmt bench bench-quick bench-scaling clean config-docs image-smoke

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# PYTHONWARNINGS: setuptools warns about every editable install, which reads like a problem and is not
	PYTHONWARNINGS=ignore $(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

prometheus:
	@bash scripts/ensure-prometheus.sh

services: prometheus
	@bash scripts/ensure-postgres.sh
	@bash scripts/ensure-focus-validator.sh
	@bash scripts/ensure-client-venvs.sh
	@bash scripts/ensure-chromium.sh

demo: venv prometheus
	$(BIN)/attribution demo

lint: venv
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/mypy attribution
	$(BIN)/lint-imports

fmt: venv
	$(BIN)/ruff format $(SRC)
	$(BIN)/ruff check --fix $(SRC)

# services are installed first, so a test that finds one missing fails (tests/support/services.py)
test: venv services lint
	ATTRIBUTION_REQUIRE_SERVICES=1 $(BIN)/pytest

# Build the container image with podman and smoke-test it (as root; `make test` runs it through
# tests/deploy/test_image.py). Times: scripts/image-smoke.sh prints them.
image-smoke: venv
	bash scripts/image-smoke.sh

# regenerate docs/configuration-reference.md after changing attribution/config/ (a test compares them)
config-docs: venv
	$(BIN)/attribution config docs --out docs/configuration-reference.md

clean:
	rm -rf demo-out .pytest_cache .mypy_cache .ruff_cache

# Full size (1,024 GPUs, 1,000 tenants, a 30-day month filled from 2 simulated hours), every stage bounded
# by --stage-seconds (docs/performance.md, "Full size"). The side benches run at reduced sizes: the scale
# scenario already serves the full month's chargeback to 50 clients.
bench: venv services
	@bash scripts/ensure-wrk.sh || echo "the API stage runs without wrk: its Python clients only"
	$(BIN)/python bench/bench_model.py
	$(BIN)/python bench/bench_collect.py --rows 100000 --repeat 2
	$(BIN)/python bench/bench_api.py --requests 1000 --max-seconds 30
	$(BIN)/python bench/bench_scale.py

# How attribution's cost grows with tenants (100, 1,000, 10,000; 1 day) and days (1, 7, 30; 1,000 tenants),
# each point bounded (--point-seconds); writes bench/results/scaling.json and prints the markdown table.
bench-scaling: venv services
	$(BIN)/python bench/bench_scaling.py

# The scale scenario at a size CI could afford (64 GPUs, 50 tenants, 2 h simulated; about 3 minutes).
bench-quick: venv services
	@bash scripts/ensure-wrk.sh || echo "the API stage runs without wrk: its Python clients only"
	$(BIN)/python bench/bench_scale.py --quick
