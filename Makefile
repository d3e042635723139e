# Two commands on a fresh machine:  `make demo`  and  `make test`.
# Both bootstrap a local virtualenv (.venv) from pyproject.toml; nothing is installed by hand.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA_DIR ?= data

SPARK_STAMP := $(VENV)/.spark-stamp
# pytest-xdist: one worker per core, each test file kept on one worker (its module
# fixtures build a warehouse once); `make test PYTEST_WORKERS=` runs in one process
PYTEST_WORKERS ?= -n auto --dist loadfile

.PHONY: demo test test-heavy test-spark lint bench bench-50m bench-generate clean install

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make demo: generate ~5,000 trial users, ingest with dlt, dbt build, print a summary
demo: $(STAMP)
	$(BIN)/journeys demo --data-dir $(DATA_DIR)

## make test: ruff + sqlfluff + the pytest suite (`slow`, `heavy` and `spark` markers excluded)
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not spark and not heavy" $(PYTEST_WORKERS)

## make test-heavy: the tests that run many dbt builds (CI runs them as a step of their own)
test-heavy: $(STAMP)
	$(BIN)/python -m pytest -m heavy $(PYTEST_WORKERS)

$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(SPARK_STAMP)

## make test-spark: the same models, unit tests and data tests on Spark (pyspark, Java 17)
test-spark: $(SPARK_STAMP)
	$(BIN)/python -m pytest -m spark

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/sqlfluff lint models macros analyses tests

## make bench: 1M and 10M events, 3 runs each: generate, ingest (and DuckDB's read_json, the
## floor), the full dbt build, the activation funnel against chdb's windowFunnel; writes
## docs/benchmarks.json and renders docs/benchmarks.md from it (1.5-2 hours on 2 cores today:
## one 1M run takes about 4 minutes, the 10M runs most of the rest)
bench: $(STAMP)
	$(BIN)/journeys bench --events 1M --events 10M

## make bench-50m: 50M events (250,000 users), the build targets' size; the export files are
## gzipped after generation, and it still needs about 75 GiB of free disk (it says so and
## stops before generating when there is less); several hours
bench-50m: $(STAMP)
	$(BIN)/journeys bench --events 50M --gzip

## make bench-generate: 100k users (~20M+ events); prints a row for docs/performance-notes.md
bench-generate: $(STAMP)
	$(BIN)/python scripts/bench_generate.py --users 100000

clean:
	rm -rf $(DATA_DIR) target logs
