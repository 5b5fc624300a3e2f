# The newcomer's entry points: `make demo` and `make test`. `.ci/run` calls `make test` and nothing else.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: test check lint types contracts unit coverage control-plane tools cluster-up cluster-down demo demo-down bench chaos generate clean

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

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports --no-cache

check: lint types contracts

# The unit tier runs first, under the coverage gate; then every other tier (contract, integration, end to end).
test: $(STAMP) control-plane tools check coverage
	$(BIN)/pytest --ignore=tests/unit $(PYTEST_ARGS)

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

# Figures go to bench/results/*.json. The scale benchmark runs on the local cluster (started here if down).
bench: $(STAMP) control-plane
	$(BIN)/python bench/snyk_client_throughput.py
	hack/local-cluster up >/dev/null
	$(BIN)/python bench/converge_at_scale.py
	$(BIN)/python bench/failover.py

# Every chaos scenario (faults of Snyk, the network, the control plane, the operator) on 100 BrokerTokens, about
# 11 minutes; `make test` runs the short one. Figures go to bench/results/chaos.json.
chaos: $(STAMP) control-plane
	$(BIN)/pytest tests/integration/test_chaos.py --chaos $(PYTEST_ARGS)

cluster-up: control-plane
	@hack/local-cluster up

cluster-down:
	@hack/local-cluster down

clean: cluster-down
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
