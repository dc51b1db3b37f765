# SlabDB — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-fast check bench install system-deps clean

$(STAMP): pyproject.toml
	bash scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,dev,embed]'
	touch $(STAMP)

install: $(STAMP)

system-deps:
	bash scripts/system-deps.sh

## Run the demo: an embedded database in ./demo-data, ingest, filtered queries, compaction.
demo: $(STAMP)
	$(BIN)/slabdb demo --data ./demo-data

## Set everything up and run the whole test suite.
test: $(STAMP)
	$(BIN)/pytest -q

## The suite without the slow crash and multi-process tests.
test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

## Lint and type-check.
check: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

## Benchmarks (write JSON to benchmarks/results/).
bench: $(STAMP)
	$(BIN)/python benchmarks/engine.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-data
