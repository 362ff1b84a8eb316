# GridLink's front door. `make run` starts the platform; `make test` runs every test, exactly as CI does.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SERVICES := intake dispatch mediation volunteer notification console
# make test uses the local PostgreSQL, as CI does; the services themselves default to SQLite under var/.
TEST_DATABASE_URL ?= $(or $(DATABASE_URL),postgresql://postgres@127.0.0.1:5432/postgres)

.PHONY: help venv run demo migrate test chaos bench test-packages lint fmt dlq clean $(addprefix test-,$(SERVICES))

help:
	@echo "make run      start all five services with the Haibowan data (RabbitMQ started if needed)"
	@echo "make test     run every test (unit, integration, end-to-end, browser), as CI does"
	@echo "make demo     with make run going: replay a day of Haibowan activity in a minute"
	@echo "make lint     ruff check and format check;  make fmt  to format"
	@echo "make chaos    long fault run: kill -9 each service, restart RabbitMQ and PostgreSQL, count every report"
	@echo "make bench    the performance benchmark (ARGS=--quick for a smoke run); results in var/bench/"
	@echo "make dlq      list dead letters (ARGS='show ID' | 'replay ID' | 'replay --all')"
	@echo "make test-<service>  one service's tests, e.g. make test-dispatch"

$(BIN)/.installed: requirements.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 is needed (python3.11 not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

venv: $(BIN)/.installed

$(BIN)/promtool: | $(BIN)/.installed
	tools/install_promtool.sh $(BIN)

run: venv
	@python3 tools/ensure_services.py rabbitmq
	$(BIN)/python -m gridlink.devstack run

# With `make run` going in another terminal: a realistic day of Haibowan reports, posted through intake in a minute.
demo: venv
	$(BIN)/python tools/demo/replay.py --intake http://127.0.0.1:8001 --minutes 1

migrate: venv
	@for s in $(SERVICES); do $(BIN)/python -m $$s migrate || exit 1; done

# Debian packages some tests drive: headless Chromium for the console, amqp-tools for a Python-less partner
# (needs root, as on CI).
test-packages:
	@tools/install_test_packages.sh

test: venv $(BIN)/promtool test-packages
	@DATABASE_URL=$(TEST_DATABASE_URL) python3 tools/ensure_services.py rabbitmq postgres
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest $(PYTEST_ARGS)

# The long fault run: more reports, and real RabbitMQ and PostgreSQL restarts (it disturbs anything else running).
chaos: venv
	@DATABASE_URL=$(TEST_DATABASE_URL) python3 tools/ensure_services.py rabbitmq postgres
	CHAOS=1 DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest tests/e2e/test_faults.py -s -q $(PYTEST_ARGS)

# The performance benchmark (not part of make test): ceilings, GridLink, the plain nameko pipeline and a scale-out,
# swept over open-loop rates on PostgreSQL. Results in var/bench/ (JSON and a PNG). ARGS="--quick" for a smoke run.
bench: venv
	@DATABASE_URL=$(TEST_DATABASE_URL) python3 tools/ensure_services.py rabbitmq postgres
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python -m bench.run $(ARGS)

$(addprefix test-,$(SERVICES)): test-%: venv
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest tests -k $* $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

dlq: venv
	$(BIN)/python -m gridlink.runtime.dlq $(or $(ARGS),list)

clean:
	rm -rf var $(VENV)
