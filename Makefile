# Entry points. Every target builds what it needs: a fresh clone has nothing installed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
# Airflow runs with a repo-local, git-ignored home; the repo root is on sys.path so `include.*`
# and `emulator` import the same way they do on Astro (/usr/local/airflow is on its path).
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export PYTHONPATH := $(CURDIR)
PYTEST_ARGS ?=

.PHONY: setup test lint format lock emulator demo bench bench-one clean airflow-home up-distributed down-distributed params-doc

# The stamp depends on the lock: re-running setup with an unchanged lock does nothing.
$(VENV)/.installed: requirements-lock.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements-lock.txt
	touch $@

setup: $(VENV)/.installed airflow-home

# Initialises the metadata DB once; the marker makes the second run free.
$(AIRFLOW_HOME)/.initialised: $(VENV)/.installed
	mkdir -p $(AIRFLOW_HOME)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || { cat $(AIRFLOW_HOME)/db-migrate.log; exit 1; }
	touch $@

airflow-home: $(AIRFLOW_HOME)/.initialised

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The whole suite: lint, unit, integration (emulator), e2e (real Airflow). `pytest .astro` is the
# Astro parse test, run with the same environment.
# Unit and integration tests run on two xdist workers (they mostly wait on emulators and
# sockets); the e2e tests start real Airflow stacks and share the repo's .airflow DB, so they run
# one at a time afterwards.
test: setup lint
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/pytest -n 2 --dist loadfile --ignore=tests/e2e tests $(PYTEST_ARGS)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/pytest tests/e2e $(PYTEST_ARGS)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/pytest -q .astro

# Regenerate README.md's Params tables from the DAGs' Params (tests/dags/test_params.py checks them).
params-doc: $(VENV)/.installed
	$(BIN)/python -m tests.dags.params_table

# Re-resolve the pinned environment after editing requirements*.txt / requirements-dev.in.
lock: $(VENV)/.installed
	$(BIN)/uv pip compile --quiet requirements-dev.in -o requirements-lock.txt --python-version 3.11

clean:
	rm -rf $(VENV) $(AIRFLOW_HOME) .pytest_cache .ruff_cache

# The Salesforce + Data Cloud emulator in the foreground (HTTPS with a throwaway CA by default).
# Options go through EMULATOR_ARGS, e.g. make emulator EMULATOR_ARGS="--http --port 8080 --rows 200000"
EMULATOR_ARGS ?=
emulator: $(VENV)/.installed
	$(BIN)/python -m emulator serve $(EMULATOR_ARGS)

# Issue 7: ours vs simple-salesforce bulk2 vs the seed's method (scenarios A, B, C), one run.
# The whole benchmark matrix (hours): writes bench/results/{RESULTS.md,results.json,targets.json,*.png};
# scratch data in bench/results/tmp (ignored). One cell, merged into the same report:
#   make bench-one SCENARIO=B PROFILE=offset_split CONTENDER=ours BENCH_ARGS="--rows 200000 --repeats 3"
# (PROFILE and CONTENDER are optional filters; BENCH_ARGS="--smoke" for tiny sizes, "--list" to see the cells)
SCENARIO ?= B
PROFILE ?=
CONTENDER ?=
BENCH_ARGS ?=
bench: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m bench.compare --scenario all --fresh $(BENCH_ARGS)

bench-one: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m bench.compare --scenario $(SCENARIO) \
		$(if $(PROFILE),--profile $(PROFILE)) $(if $(CONTENDER),--contender $(CONTENDER)) $(BENCH_ARGS)

# The whole load end to end: emulator with 200,000 seeded rows, a real Airflow in a throwaway
# home, the DAG triggered over REST, live progress, the reconciliation. Ctrl-C stops everything.
# Options through DEMO_ARGS, e.g. make demo DEMO_ARGS="--rows 2000000 --partitions 10 --faults light"
DEMO_ARGS ?=
demo: setup
	$(BIN)/python -m devstack.demo $(DEMO_ARGS)

# Issue 9: the distributed profile in the background: Postgres metadata DB (database
# airflow_dc2sf_distributed, created if missing, kept by down), CeleryExecutor with Redis, two
# Celery workers, scheduler, dag-processor, triggerer, api-server, plus an emulator the connections
# point at. Needs Postgres on 127.0.0.1:5432 and Redis on :6379 (devstack/distributed.py says how
# to get them). Options: DIST_ARGS="--workers 3 --rows 2000000 --rows -1 (no emulator)"
DIST_ARGS ?=
up-distributed: setup
	$(BIN)/python -m devstack.distributed up $(DIST_ARGS)

down-distributed:
	$(BIN)/python -m devstack.distributed down

# Issue 8: the fault suite at soak scale (each fault class alone, then all together). Scale with
# SOAK_ROWS_PER_PARTITION / SOAK_PARTITIONS / SOAK_SEED, e.g. make soak SOAK_PARTITIONS=8
SOAK_ROWS_PER_PARTITION ?= 25000
SOAK_PARTITIONS ?= 5
SOAK_SEED ?= 7
.PHONY: soak
soak: setup
	DC2SF_FAULT_ROWS_PER_PARTITION=$(SOAK_ROWS_PER_PARTITION) DC2SF_FAULT_PARTITIONS=$(SOAK_PARTITIONS) \
	DC2SF_FAULT_SEED=$(SOAK_SEED) PATH=$(CURDIR)/$(BIN):$$PATH \
	$(BIN)/pytest -s -p no:cacheprovider tests/integration/faults $(PYTEST_ARGS)
