# Two commands on a fresh machine:  `make demo`  and  `make test`.
# Both bootstrap a local virtualenv (.venv) from pyproject.toml; nothing is installed by hand.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA_DIR ?= data

.PHONY: demo test lint bench-generate clean install

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make demo: generate ~5,000 trial users, ingest with dlt, dbt build, print a summary
demo: $(STAMP)
	$(BIN)/journeys demo --data-dir $(DATA_DIR)

## make test: ruff + sqlfluff + the whole pytest suite (the heavy `slow` marker excluded)
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/sqlfluff lint models macros analyses tests

## make bench-generate: 100k users (~20M+ events); time and peak memory go to docs/benchmarks.md
bench-generate: $(STAMP)
	$(BIN)/python scripts/bench_generate.py --users 100000

clean:
	rm -rf $(DATA_DIR) target logs
