# Fleetward: two commands on a fresh machine, `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
CONFIG ?=
STAMP   = $(VENV)/.installed
DEVSTAMP = $(VENV)/.installed-dev

.PHONY: run test lint typecheck importlint pytest bench lock clean help

help:
	@echo "make run    start the hub on embedded defaults (creates .venv on first use)"
	@echo "make test   lint, type-check, check import layers and run every test tier"
	@echo "make bench  run the benchmarks and print their tables"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): $(VENV)/bin/python pyproject.toml constraints.txt
	$(PIP) install --quiet -c constraints.txt -e .
	@touch $@

$(DEVSTAMP): $(STAMP) pyproject.toml constraints.txt
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	@bash tools/ensure-tools.sh
	@touch $@

run: $(STAMP)
	$(VENV)/bin/fleetward serve $(if $(CONFIG),--config $(CONFIG),)

lint: $(DEVSTAMP)
	$(VENV)/bin/ruff check src tests $(wildcard bench)
	$(VENV)/bin/ruff format --check src tests $(wildcard bench)

typecheck: $(DEVSTAMP)
	$(VENV)/bin/mypy --strict src/

importlint: $(DEVSTAMP)
	$(VENV)/bin/lint-imports

pytest: $(DEVSTAMP)
	$(VENV)/bin/pytest -n 2 --dist loadgroup tests

test: lint typecheck importlint pytest

bench: $(DEVSTAMP)
	$(PY) -m bench
	$(PY) -m bench.access
	$(PY) -m bench.presence
	$(PY) -m bench.e2e
	$(PY) -m bench.datalife --history-only

# Re-pin every dependency to what resolves today (run by a developer, then commit constraints.txt).
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv && .lockvenv/bin/pip install --quiet -e '.[dev]'
	.lockvenv/bin/pip freeze --exclude-editable --exclude fleetward > constraints.txt
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
