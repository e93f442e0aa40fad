# The two commands of the README: `make run` and `make test`. Both set up what
# they need from a fresh clone (virtual environment, packages, database).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# The PostgreSQL that `make test` runs the database tests against as well.
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: run test setup setup-dev migrate lint format clean

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

# Embedded defaults: DEBUG on, SQLite, in-memory channel layer, SFU in-process.
run: export DEBUG ?= 1
run: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_superuser
	@echo "Parley is at http://$(HOST):$(PORT)/ (Ctrl+C stops it)"
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) config.asgi:application

test: export DEBUG ?= 1
test: $(VENV)/.dev
	./scripts/ensure-test-packages
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run
	PY=$(PY) TEST_POSTGRES_URL=$(TEST_POSTGRES_URL) ./scripts/run-tests

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) staticfiles artifacts .pytest_cache
