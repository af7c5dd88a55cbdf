# webcap: `make run` serves the embedded default, `make test` runs every check and test.
# Only Python 3.11, git and make are needed; everything else is installed into .venv from
# the hash-locked requirements/*.txt, by the pip that requirements/bootstrap.txt pins.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint typecheck checks pytest pytest-postgres lock clean help bench-authz run-cluster \
	bench bench-smoke bench-load bench-streams

help:
	@echo "make run   - install, migrate, print how to call, serve on $(HOST):$(PORT)"
	@echo "make test  - install dev tools, run lint, types, Django checks and the test suite (SQLite, then PostgreSQL)"
	@echo "make lock  - re-resolve requirements/*.txt from pyproject.toml (needs the network)"
	@echo "make run-cluster - PostgreSQL, Redis, two web processes, a worker and beat, locally"
	@echo "make bench - webcap against the a2a-sdk reference server (bench-smoke: the quick check)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# A new venv holds whatever pip the interpreter bundles (23.2.1 on Python 3.11.7), and an old
# pip can refuse a hash-locked file that a current one installs (an extra such as
# httpx[http2] read as a second, unpinned requirement). So the venv's installer is brought to
# the hash-pinned version first, and only that pip runs the locked installs below.
# tests/test_install.py runs these same recipes in a brand-new venv.
$(VENV)/.installed-pip: requirements/bootstrap.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r requirements/bootstrap.txt
	touch $@

$(VENV)/.installed-base: requirements/base.txt $(VENV)/.installed-pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/base.txt
	touch $@

$(VENV)/.installed-dev: requirements/dev.txt $(VENV)/.installed-pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	touch $@ $(VENV)/.installed-base

run: $(VENV)/.installed-base
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py demo --host $(HOST) --port $(PORT)
	$(BIN)/python manage.py runembedded --host $(HOST) --port $(PORT)

# lint-imports: the layer contract in pyproject.toml ([tool.importlinter], docs/architecture.md).
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy .

checks: $(VENV)/.installed-dev
	$(BIN)/python manage.py check --fail-level WARNING
	$(BIN)/python manage.py makemigrations --check --dry-run

# worksteal: a worker that runs out of tests takes some of the other's, so the long live
# tests at the end do not leave one core idle.
pytest: $(VENV)/.installed-dev
	$(BIN)/pytest -n 2 --dist worksteal $(PYTEST_ARGS)

# The unit suite again on a throwaway PostgreSQL (tests/postgres_server.py); live and interop
# tests start their own SQLite-backed servers and are left out. So is what does not depend on
# the database the suite runs on, which the first pass covered: the deploy files (promtool),
# settings and static files (tests/config), the import layers, the repository, the fake
# model, the lock files and the fresh-venv install, the Cap'n Web protocol layer, the
# calculator, the Redis rate limiter and the outbound A2A client; and the tests that start
# a PostgreSQL of their own whichever database the suite has (migrations both ways, backups,
# the audit table's triggers).
PG_PYTEST_ARGS ?= -m "not live and not interop and not install" \
	--ignore=tests/deploy --ignore=tests/config --ignore=tests/test_architecture.py \
	--ignore=tests/test_repository.py --ignore=tests/test_fakellm.py \
	--ignore=tests/test_install.py --ignore=tests/test_migrations.py \
	--ignore=tests/common/test_backup.py --ignore=tests/audit/test_postgres.py \
	--ignore=tests/capnweb --ignore=tests/common/test_arithmetic.py \
	--ignore=tests/common/test_ratelimit_redis.py --ignore=tests/a2a/client \
	--ignore=tests/common/test_sqlite_backend.py
pytest-postgres: $(VENV)/.installed-dev
	$(BIN)/python -m tests.postgres_server -- $(BIN)/pytest -n 2 --dist worksteal $(PG_PYTEST_ARGS) $(PYTEST_ARGS)

test: lint typecheck checks pytest pytest-postgres

# The production topology on this machine: PostgreSQL and Redis (AOF) from their local
# binaries, two web processes, a worker and beat (tests/cluster.py; docs/operations.md).
run-cluster: $(VENV)/.installed-dev
	$(BIN)/python -m tests.cluster $(CLUSTER_ARGS)

# Permission-scoped ListTasks/GetTask timings and query plans (bench/README.md), e.g.
# make bench-authz BENCH_ARGS="--postgres --tasks 50000".
bench-authz: $(VENV)/.installed-base
	$(BIN)/python bench/authz_reads.py $(BENCH_ARGS)

# webcap against the a2a-sdk 1.3.0 reference server, embedded and production topology
# (bench/README.md): a table, var/bench/bench-<time>.json and .html. A few minutes;
# bench-smoke (tiny durations, what CI runs) checks the harness, its figures mean nothing.
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.compare $(BENCH_ARGS)

bench-smoke: $(VENV)/.installed-dev
	$(BIN)/python -m bench.compare --smoke $(BENCH_ARGS)

# 1,000 locust users on the production topology; report in var/bench/load/ (bench/README.md).
# make bench-load BENCH_ARGS=--smoke runs 12 users for 15 s.
bench-load: $(VENV)/.installed-dev
	$(BIN)/python -m bench.loadtest $(BENCH_ARGS)

# 1,000 SSE + 1,000 WebSocket subscribers of one task and 10,000 idle WebSockets on one web
# process (bench/README.md); make bench-streams BENCH_ARGS=--smoke for 20 + 20 and 200.
bench-streams: $(VENV)/.installed-dev
	$(BIN)/python -m bench.streams $(BENCH_ARGS)

# Extras stay in the lock files (httpx[http2]==0.28.1, not httpx==0.28.1), so what the hashed
# install resolves is exactly what is written down. Existing pins are kept; pass
# LOCK_ARGS=--upgrade (or --upgrade-package NAME) to move them.
PIP_TOOLS_VERSION := 7.5.2
LOCK_ARGS ?=
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes \
	--allow-unsafe --no-strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)
lock: $(VENV)/.installed-pip
	$(BIN)/python -m pip install --quiet pip-tools==$(PIP_TOOLS_VERSION)
	$(PIP_COMPILE) -o requirements/base.txt pyproject.toml
	$(PIP_COMPILE) --extra dev -o requirements/dev.txt pyproject.toml
	$(PIP_COMPILE) -o tests/interop/requirements.txt tests/interop/requirements.in
	$(PIP_COMPILE) -o bench/reference/requirements.txt bench/reference/requirements.in
	$(PIP_COMPILE) -o bench/locust/requirements.txt bench/locust/requirements.in

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
