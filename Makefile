# webcap: `make run` serves the embedded default, `make test` runs every check and test.
# Only Python 3.11, git and make are needed; everything else is installed into .venv from
# the hash-locked requirements/*.txt.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint typecheck checks pytest pytest-postgres lock clean help bench-authz run-cluster

help:
	@echo "make run   - install, migrate, print how to call, serve on $(HOST):$(PORT)"
	@echo "make test  - install dev tools, run lint, types, Django checks and the test suite (SQLite, then PostgreSQL)"
	@echo "make lock  - re-resolve requirements/*.txt from pyproject.toml (needs the network)"
	@echo "make run-cluster - PostgreSQL, Redis, two web processes, a worker and beat, locally"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-base: requirements/base.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/base.txt
	touch $@

$(VENV)/.installed-dev: requirements/dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	touch $@ $(VENV)/.installed-base

run: $(VENV)/.installed-base
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py demo --host $(HOST) --port $(PORT)
	$(BIN)/python manage.py runembedded --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy .

checks: $(VENV)/.installed-dev
	$(BIN)/python manage.py check --fail-level WARNING
	$(BIN)/python manage.py makemigrations --check --dry-run

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

# The unit suite again on a throwaway PostgreSQL (tests/postgres_server.py); live and interop
# tests start their own SQLite-backed servers and are left out, and so are the two SQLite
# backup tests.
PG_PYTEST_ARGS ?= -m "not live and not interop" \
	--deselect tests/common/test_backup.py::test_sqlite_backup_during_writes_restores_into_a_fresh_database \
	--deselect tests/common/test_backup.py::test_restore_errors_are_clear
pytest-postgres: $(VENV)/.installed-dev
	$(BIN)/python -m tests.postgres_server -- $(BIN)/pytest -n 2 $(PG_PYTEST_ARGS) $(PYTEST_ARGS)

test: lint typecheck checks pytest pytest-postgres

# The production topology on this machine: PostgreSQL and Redis (AOF) from their local
# binaries, two web processes, a worker and beat (tests/cluster.py; docs/operations.md).
run-cluster: $(VENV)/.installed-dev
	$(BIN)/python -m tests.cluster $(CLUSTER_ARGS)

# Permission-scoped ListTasks/GetTask timings and query plans (bench/README.md), e.g.
# make bench-authz BENCH_ARGS="--postgres --tasks 50000".
bench-authz: $(VENV)/.installed-base
	$(BIN)/python bench/authz_reads.py $(BENCH_ARGS)

lock:
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links -o requirements/base.txt pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links --extra dev -o requirements/dev.txt pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
