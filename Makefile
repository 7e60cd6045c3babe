# Two commands on a fresh machine:  `make demo` (the workflow offline)  and  `make test`.
# Each installs what it needs first; re-running skips what is already installed.

PYTHON ?= python3.12
VENV   := .venv
BIN    := $(VENV)/bin
# checkov has a venv of its own: it pins a boto3 that conflicts with the project's (requirements-checkov.txt).
CHECKOV_VENV := .venv-checkov
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)
export SLS_TELEMETRY_DISABLED := 1

.PHONY: help setup demo test test-fast lint format package scan bench moto-check model local-up local-down clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# -- set-up ----------------------------------------------------------------------------------
$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.12 is required, as on Lambda)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt requirements-dev.txt pyproject.toml
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.12 is required, as on Lambda)"; exit 1; }
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json .npmrc
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Headless Chromium renders the HTML report in its test (Debian package).
.chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@touch $@

setup: $(VENV)/.installed $(CHECKOV_VENV)/.installed node_modules/.installed  ## Create .venv (Python 3.12) and .venv-checkov, install Python and npm dependencies

# -- the two commands ----------------------------------------------------------------------------
demo: setup  ## Run the workflow offline over samples/, then the monitoring report
	$(BIN)/imageflow run samples/*.png samples/*.jpg --out out
	$(BIN)/imageflow report out/data-capture --out out/report

test: setup .chromium lint  ## Lint, then every test (unit, integration, workflow, package, end to end)
	$(BIN)/pytest -n 2 --dist loadgroup

test-fast: setup  ## Only the tests that start no external process
	$(BIN)/pytest -n 2 --dist loadgroup -m "not slow"

# -- the Serverless CLI offline (see README: sls invoke local / deploy / invoke stepf) -------------
local-up: setup  ## Start the local AWS API and model endpoint in the background; then `source .local/local.env`
	$(BIN)/imageflow local start

local-down:  ## Stop them
	$(BIN)/imageflow local stop

# -- tools -------------------------------------------------------------------------------------
lint: setup  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

package: setup  ## `sls package` offline (a moto server answers the CloudFormation lookup)
	$(BIN)/python -m imageflow.tools.package_offline

scan: setup  ## Package every template variant and scan it with checkov; lint the IAM policies with parliament
	$(BIN)/python -m imageflow.tools.security_scan --skips

bench: setup  ## Benchmarks: workflow vs bare model, report vs the original notebook approach, serve under load
	$(BIN)/python benchmarks/workflow_benchmark.py
	$(BIN)/python benchmarks/report_benchmark.py
	$(BIN)/python benchmarks/serve_benchmark.py

# Not part of `make test`: it builds a second environment (minutes) and runs the patch tests there.
MOTO_CHECK_VERSION ?= 5.2.4
moto-check: setup  ## Every moto patch's test against another moto release (MOTO_CHECK_VERSION), in a throwaway venv
	$(BIN)/python -m imageflow.motopatch.check --moto $(MOTO_CHECK_VERSION) --python $(PYTHON)

model:  ## Re-export models/mobilenet_v2.onnx from the published weights (needs torch; see models/PROVENANCE.md)
	bash models/export.sh

clean:
	rm -rf .serverless out .pytest_cache .ruff_cache .hypothesis .chromium
