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
	$(BIN)/pip install -q -e '.[test,dev,embed,sync,bulk,app,spark]'
	touch $(STAMP)

install: $(STAMP)

system-deps:
	bash scripts/system-deps.sh

## Run the whole system until Ctrl-C: PostgreSQL with 15,000 Debian packages, `slabdb serve`
## (console at /console), the sync workers and the search app on http://127.0.0.1:$(DEMO_PORT)/.
## State in ./demo-data (the first run embeds for a few minutes; later runs start in seconds).
## `slabdb demo --embedded` is the old tour without PostgreSQL.
DEMO_PORT ?= 8080
demo: $(STAMP)
	$(BIN)/slabdb demo --data ./demo-data --port $(DEMO_PORT)

## Set everything up and run the whole test suite.
test: $(STAMP)
	$(BIN)/pytest -q

## The suite without Postgres, `slabdb serve` subprocesses, crash loops and the benchmark
## smoke test (markers set in tests/conftest.py): under a minute on 2 cores.
test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow and not postgres and not server and not bench"

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

## Old pinecone SDKs (7.x, 9.x) in their own venvs (ignored by git), built from the pinned
## requirements/sdk*.txt, for the API acceptance tests.
SDK_VENV_STAMPS := .venv-sdk7/.installed-stamp .venv-sdk9/.installed-stamp
.venv-sdk%/.installed-stamp: requirements/sdk%.txt
	rm -rf .venv-sdk$*
	$(PYTHON) -m venv .venv-sdk$*
	.venv-sdk$*/bin/pip install -q -r requirements/sdk$*.txt
	touch $@
.PHONY: sdk-venvs bench-api
sdk-venvs: $(SDK_VENV_STAMPS)
test: sdk-venvs

## API benchmark: REST vs gRPC vs embedded (writes benchmarks/results/api.json).
bench-api: $(STAMP)
	$(BIN)/python benchmarks/api.py
