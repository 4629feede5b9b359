# `make run` chats in the terminal on embedded defaults; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install only when the project's dependencies change.
STAMP_RUN := $(VENV)/.stamp-run
STAMP_TEST := $(VENV)/.stamp-test

.PHONY: run test test-fast bench redis clean

run: $(STAMP_RUN)
	$(BIN)/nono chat

test: $(STAMP_TEST) redis
	$(BIN)/python -m pytest --cov=nono --cov-report=term $(PYTEST_ARGS)

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

clean:
	rm -rf $(VENV) .pytest_cache .coverage
