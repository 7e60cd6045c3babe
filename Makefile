# Two commands on a fresh machine:  `make demo` (the workflow offline)  and  `make test`.
# Each installs what it needs first; re-running skips what is already installed.

PYTHON ?= python3.12
VENV   := .venv
BIN    := $(VENV)/bin
# checkov has a venv of its own: it pins a boto3 that conflicts with the project's (requirements-checkov.txt).
CHECKOV_VENV := .venv-checkov
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)
export SLS_TELEMETRY_DISABLED := 1

.PHONY: help setup demo loop test test-fast lint format package scan bench bench-batch cost moto-check versions model local-up local-down clean

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
# The demo keeps its own registry (out/demo/registry): your served version is not changed by it.
DEMO := out/demo
DEMO_ENV := IMAGEFLOW_REGISTRY=$(DEMO)/registry
demo: setup  ## Zero-shot vs trained on held-out CIFAR images: run, train, evaluate, approve, run again, report
	rm -rf $(DEMO)
	$(BIN)/python -m imageflow.training.demo_split $(DEMO)
	@echo; echo "== 1. the zero-shot ImageNet model on 100 held-out CIFAR-sized images (never trained on)"
	$(DEMO_ENV) $(BIN)/imageflow models approve zero-shot
	$(DEMO_ENV) $(BIN)/imageflow run $(DEMO)/heldout --out $(DEMO)/run-zero-shot --capture-dir $(DEMO)/data-capture --table-rows 5 -q
	@echo; echo "== 2. train on the other 900 bundled images (registered, approved if no regression)"
	$(DEMO_ENV) $(BIN)/imageflow train $(DEMO)/train-data --out $(DEMO)/model
	@echo; echo "== 3. evaluate the new version against zero-shot on the held-out images"
	$(DEMO_ENV) $(BIN)/imageflow evaluate $(DEMO)/model $(DEMO)/heldout --baseline $(DEMO)/registry/versions/zero-shot --out $(DEMO)/evaluation -q
	$(DEMO_ENV) $(BIN)/imageflow models list
	@echo; echo "== 4. the same held-out images again, through the approved version; then photos of other things"
	$(DEMO_ENV) $(BIN)/imageflow run $(DEMO)/heldout --out $(DEMO)/run-trained --capture-dir $(DEMO)/data-capture --table-rows 5 -q
	$(DEMO_ENV) $(BIN)/imageflow run samples/*.png samples/*.jpg datasets/open-set-photos/*.jpg --out $(DEMO)/run-photos -q
	@echo; echo "== 5. the monitoring report over both runs of the held-out images: confidence rises"
	$(BIN)/imageflow report $(DEMO)/data-capture --out $(DEMO)/report --bin 30s
	@echo; echo "evaluation: $(DEMO)/evaluation/report.html   monitoring: $(DEMO)/report/report.html"

# -- the closed loop (issue 11): review queue -> Ground Truth labels -> retrainModel -> a better model ------------
# Its own registry and review queue (out/loop/): your served version and queue are not changed by it.
LOOP := out/loop
LOOP_ENV := IMAGEFLOW_REGISTRY=$(LOOP)/registry IMAGEFLOW_REVIEW=$(LOOP)/review
loop: setup  ## The whole retraining loop offline: zero-shot, review queue, labels, retrainModel, recovery, report
	rm -rf $(LOOP)
	$(BIN)/python -m imageflow.retrain.loop_data $(LOOP)/data
	@echo; echo "== 1. the zero-shot model on half of 200 held-out CIFAR images: few pass; the review queue fills, the trigger fires"
	$(LOOP_ENV) $(BIN)/imageflow models approve zero-shot
	$(LOOP_ENV) $(BIN)/imageflow run $(LOOP)/data/first --out $(LOOP)/run-1 --capture-dir $(LOOP)/data-capture --table-rows 5 -q
	@echo; echo "== 2. the review queue, exported as a Ground Truth input manifest (+ label categories)"
	$(LOOP_ENV) $(BIN)/imageflow review export --out $(LOOP)/labelling/review.manifest
	@echo; echo "== 3. labels come back as a Ground Truth output manifest (stand-in labellers: the held-out labels)"
	$(BIN)/python -m imageflow.review.stand_in_labeller $(LOOP)/labelling/review.manifest --labels-from $(LOOP)/data/first --out $(LOOP)/labelling/output.manifest
	$(LOOP_ENV) $(BIN)/imageflow review import $(LOOP)/labelling/output.manifest --base $(LOOP)/data/train-data
	@echo; echo "== 4. retrainModel: train, evaluate against the approved version, register, approve, update the endpoint"
	$(LOOP_ENV) $(BIN)/imageflow retrain
	@echo; echo "== 5. the other half (never trained on), through the new version"
	$(LOOP_ENV) $(BIN)/imageflow run $(LOOP)/data/second --out $(LOOP)/run-2 --capture-dir $(LOOP)/data-capture --table-rows 5 -q
	$(BIN)/python -m imageflow.retrain.loop_figures $(LOOP)
	@echo; echo "== 6. the monitoring report: the dip, the retraining (marked), the recovery"
	$(BIN)/imageflow report $(LOOP)/data-capture --out $(LOOP)/report --bin 10s --mark "$$($(BIN)/python -m imageflow.retrain.loop_figures $(LOOP) --mark)"
	@echo; echo "monitoring: $(LOOP)/report/report.html   loop figures: $(LOOP)/figures.json"

test: setup .chromium lint  ## Lint, then every test (unit, integration, workflow, package, end to end)
	$(BIN)/pytest -n 2 --dist loadgroup --durations=15

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

# Not part of `make test`: it builds a second environment (minutes) and runs the patch tests there.
MOTO_CHECK_VERSION ?= 5.2.4
moto-check: setup  ## Every moto patch's test against another moto release (MOTO_CHECK_VERSION), in a throwaway venv
	$(BIN)/python -m imageflow.motopatch.check --moto $(MOTO_CHECK_VERSION) --python $(PYTHON)

bench: setup  ## Benchmarks: workflow vs bare model, report vs notebook, training, serving, open set
	$(BIN)/python benchmarks/workflow_benchmark.py
	$(BIN)/python benchmarks/report_benchmark.py
	$(BIN)/python benchmarks/training_benchmark.py
	$(BIN)/python benchmarks/serving_benchmark.py
	$(BIN)/python benchmarks/open_set_benchmark.py
	$(BIN)/python benchmarks/serve_benchmark.py

# -- batch runs and cost (README "Batches, uploads and cost") ----------------------------------------
bench-batch: setup  ## 1,000 and 10,000 generated images through imageflow run (classifyBatch): time, memory, reconciliation
	$(BIN)/python benchmarks/batch_benchmark.py

cost: setup  ## Re-measure the handlers, then print the cost per million images (prices: pricing/aws-us-east-1.json)
	$(BIN)/python benchmarks/handler_benchmark.py
	$(BIN)/python benchmarks/cost_model.py

versions:  ## Rebuild the versions shipped in models/versions/ (zero-shot; cifar100-default trained with seed 0)
	$(BIN)/python -m imageflow.training.builtin

model:  ## Re-export models/mobilenet_v2.onnx from the published weights (needs torch; see models/PROVENANCE.md)
	bash models/export.sh

clean:
	rm -rf .serverless out .pytest_cache .ruff_cache .hypothesis .chromium
