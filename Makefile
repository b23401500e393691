# The two commands of README.md. Everything a fresh machine needs is installed from here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
WORKSPACE ?= .
DEMO_ARGS ?=

.PHONY: run test bootstrap system lint imports types pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

bootstrap: $(STAMP)

# Debian packages the real-part tests use (tmux, PostgreSQL, Alertmanager); see the script.
system:
	bash scripts/ensure-system-packages

run: bootstrap
	@test -f $(WORKSPACE)/incidentbook.toml || $(BIN)/incidentbook init $(WORKSPACE)
	@test -f $(WORKSPACE)/.incidentbook/demo-built || $(BIN)/incidentbook --workspace $(WORKSPACE) demo $(DEMO_ARGS)
	$(BIN)/incidentbook --workspace $(WORKSPACE)

lint: bootstrap
	$(BIN)/ruff check src tests bench

# The layering contracts of pyproject.toml [tool.importlinter] (import-linter).
imports: bootstrap
	$(BIN)/lint-imports --no-cache

types: bootstrap
	$(BIN)/mypy

pytest: bootstrap
	$(BIN)/pytest -q

test: bootstrap system lint imports types pytest

bench: bootstrap
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) dist build .mypy_cache .ruff_cache .pytest_cache
