# The two commands of the README: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/.installed: setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

.PHONY: demo test lint bench protos
demo: $(BIN)/.installed
	$(BIN)/python -m mpcstats demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check mpcstats tests benchmarks examples
	$(BIN)/ruff format --check mpcstats tests benchmarks examples
	$(BIN)/mypy

bench: $(BIN)/.installed
	$(BIN)/python -m pytest benchmarks --benchmark-only --benchmark-columns=min,median,rounds

protos: $(BIN)/.installed
	PYTHON=$(BIN)/python scripts/gen_protos.sh
