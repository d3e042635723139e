# Two commands on a fresh machine:  `make demo`  and  `make test`.
# Both bootstrap a local virtualenv (.venv) from pyproject.toml; nothing is installed by hand.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA_DIR ?= data

SPARK_STAMP := $(VENV)/.spark-stamp

.PHONY: demo test test-spark lint bench-generate clean install

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make demo: generate ~5,000 trial users, ingest with dlt, dbt build, print a summary
demo: $(STAMP)
	$(BIN)/journeys demo --data-dir $(DATA_DIR)

## make test: ruff + sqlfluff + the whole pytest suite (`slow` and `spark` markers excluded)
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not spark"

$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(SPARK_STAMP)

## make test-spark: the same models, unit tests and data tests on Spark (pyspark, Java 17)
test-spark: $(SPARK_STAMP)
	$(BIN)/python -m pytest -m spark

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/sqlfluff lint models macros analyses tests

## make bench-generate: 100k users (~20M+ events); time and peak memory go to docs/benchmarks.md
bench-generate: $(STAMP)
	$(BIN)/python scripts/bench_generate.py --users 100000

clean:
	rm -rf $(DATA_DIR) target logs
