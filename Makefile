# The newcomer's entry points: `make demo` and `make test`. `.ci/run` calls `make test` and nothing else.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: test check lint types contracts unit coverage control-plane tools broker broker-e2e bench-rotation-gap cluster-up cluster-down demo demo-down bench chaos generate clean

# Reinstall whenever pyproject.toml changes; a fresh clone has no .venv, so this always runs there.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

control-plane:
	@bash hack/build-control-plane.sh >/dev/null

# Helm, kubeconform and the Go programs in hack/tools/, for tests/deploy (a version-keyed cache, like the control plane).
tools:
	@bash hack/build-tools.sh >/dev/null

# The pinned Snyk Broker (npm package snyk-broker) the end-to-end rotation tests run (a version-keyed cache too).
broker:
	@bash hack/build-broker.sh >/dev/null

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports --no-cache

check: lint types contracts

# The unit tier runs first, under the coverage gate; then every other tier (contract, integration, end to end). The
# slowest tests are listed at the end, so that a CI log shows where the 30-minute budget of a cold run goes.
test: $(STAMP) control-plane tools broker check coverage
	$(BIN)/pytest --ignore=tests/unit --durations=15 $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/pytest -m "not cluster" tests/unit $(PYTEST_ARGS)

# The pure layers are covered whole by the unit tier alone, and the engine nearly so (through its port fakes).
COVERAGE := COVERAGE_FILE=.coverage $(BIN)/python -m coverage
coverage: $(STAMP)
	COVERAGE_FILE=.coverage $(BIN)/pytest -m "not cluster" tests/unit --cov=snyk_broker_operator --cov-report= $(PYTEST_ARGS)
	$(COVERAGE) report --include='*/snyk_broker_operator/reconcile/*,*/snyk_broker_operator/models/*' --fail-under=100
	$(COVERAGE) report --include='*/snyk_broker_operator/engine/*' --fail-under=90

demo: $(STAMP) control-plane
	$(BIN)/python hack/demo.py

demo-down: $(STAMP)
	$(BIN)/python hack/demo.py down

generate: $(STAMP)
	$(BIN)/python -m snyk_broker_operator.models.crdgen crds
	$(BIN)/python hack/sync_chart.py

# Figures go to bench/results/*.json (and the scale plots, *.svg). The cluster benchmarks run on the local cluster
# (started here if down); the scale benchmark alone takes about 40 minutes, the whole target about 45. The machine
# should be otherwise idle: the figures include CPU time and latency.
bench: $(STAMP) control-plane
	$(BIN)/python bench/snyk_client_throughput.py
	hack/local-cluster up >/dev/null
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/failover.py

# Every chaos scenario (faults of Snyk, the network, the control plane, the operator) on 100 BrokerTokens, about
# 11 minutes; `make test` runs the short one. Figures go to bench/results/chaos.json.
chaos: $(STAMP) control-plane
	$(BIN)/pytest tests/integration/test_chaos.py --chaos $(PYTEST_ARGS)

# Every end-to-end test with the real Snyk Broker (tests/integration/real_broker), the operator killed at each
# rotation step included (about 4 minutes); `make test` runs all but three of the kills.
broker-e2e: $(STAMP) control-plane broker
	$(BIN)/pytest tests/integration/real_broker --real-broker-all $(PYTEST_ARGS)

# The rotation gap with the real Snyk Broker, per strategy, three runs of each test: bench/results/rotation_gap.json.
bench-rotation-gap: $(STAMP) control-plane broker
	$(BIN)/python bench/rotation_gap.py

cluster-up: control-plane
	@hack/local-cluster up

cluster-down:
	@hack/local-cluster down

clean: cluster-down
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
