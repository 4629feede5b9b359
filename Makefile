# `make run` chats in the terminal on embedded defaults; `make test` runs lint, types and the whole suite.
PYTHON ?= python3
# llama-cpp-python compiles llama.cpp on install. A -march=native build segfaulted in batch decode on
# this project's AVX-512 machines; the portable build (runtime CPU dispatch) runs everywhere.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
VENV := .venv
BIN := $(VENV)/bin
# Re-install only when the project's dependencies change.
STAMP_RUN := $(VENV)/.stamp-run
STAMP_TEST := $(VENV)/.stamp-test

.PHONY: run test test-fast lint format bench redis tools clean
LINTED := nono tests bench examples

run: $(STAMP_RUN)
	$(BIN)/nono chat

test: lint redis tools
	$(BIN)/python -m pytest --cov=nono --cov-report=term $(PYTEST_ARGS)

# ruff (rules and format in pyproject.toml), mypy: --strict on the core, default checks on the rest.
lint: $(STAMP_TEST)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy --strict nono/core
	$(BIN)/mypy nono

# Rewrite the tree the way `make lint` wants it (safe fixes and formatting only).
format: $(STAMP_TEST)
	$(BIN)/ruff check --fix $(LINTED)
	$(BIN)/ruff format $(LINTED)

# Without the real-model and subprocess tests: for quick iterations.
test-fast: $(STAMP_TEST) redis
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# Benchmarks (not tests): writes BENCHMARKS.md. BENCH_ARGS="--quick" or "--only P1,P2".
bench: $(STAMP_TEST) redis
	$(BIN)/python -m bench $(BENCH_ARGS)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[local]'
	touch $@

$(STAMP_TEST): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[local,dev]'
	touch $@ $(STAMP_RUN)

redis:
	@bash scripts/ensure-redis.sh

# promtool (Debian's prometheus package) checks deploy/prometheus/alerts.yml and the dashboard's queries.
tools:
	@bash scripts/ensure-tools.sh

clean:
	rm -rf $(VENV) .pytest_cache .coverage
