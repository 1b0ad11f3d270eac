# Every target creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: a local issuer signs tokens; secauth verifies good ones and rejects forged ones
demo: $(STAMP)
	$(VENV)/bin/secauth demo

## test: lint, type-check and the whole test suite (what CI runs)
test: lint typecheck unit

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks

typecheck: $(STAMP)
	$(PY) -m mypy src

unit: $(STAMP)
	$(PY) -m pytest -n 2 --doctest-modules src tests

## bench: the benchmark report (markdown on stdout, JSON in benchmarks/results/)
bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist
