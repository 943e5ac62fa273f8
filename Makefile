# Two commands for a newcomer: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two test processes (pytest-xdist): many tests wait on a browser, a server process or a socket, so
# two keep both cores busy. Each process gets its own database, ports and Redis key prefix. Three
# were no faster and four slower on the 2-core machine (docs/benchmarks.md "Test suite time"; three
# again slower in December 2026: 111 s against 88 s on every eighth test file).
# The fifteen slowest tests close each run, so a CI log says where its minutes went.
PYTEST_ARGS ?= -n 2 --durations=15
# Playwright's Python package must never download a browser: tests use Debian's /usr/bin/chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
# Python writes its compiled modules (__pycache__, ignored by git) even where the environment says
# not to: the tests start about a hundred processes that import the app, and each compiled all of
# maestro_web again (0.3-0.5 s of CPU a start; docs/benchmarks.md "Test suite time").
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test test-sqlite test-postgres system-test worker clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# --no-compile: pip would compile every module of every package, one after another (33 of the 53 s
# of a fresh test install); Python compiles the ones a process imports, once, on first import.
$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-compile -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-compile -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

## make run: install, apply the migrations, then start together (honcho, Procfile) the app on
## http://127.0.0.1:5000 (SQLite in instance/), the live server on :5001 and one analytics worker; Ctrl-C stops all
run: $(VENV)/.runtime-installed
	@scripts/system-packages run || echo "make run: continuing without Graphviz; the worker draws its simpler layout"
	$(BIN)/flask db upgrade
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

## make worker: one analytics worker against the app at MAESTRO_ANALYTICS_URL (default http://127.0.0.1:5000/analytics)
worker: $(VENV)/.runtime-installed
	$(BIN)/flask analytics worker

## make test: install the test dependencies (Python packages, and Debian's chromium, graphviz,
## nodejs and nginx when missing), lint and format check (ruff), check types (mypy) and the layer contract (import-linter), then run the
## whole suite on SQLite, then on PostgreSQL
test: $(VENV)/.dev-installed system-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m mypy
	$(BIN)/lint-imports
	MAESTRO_TEST_DATABASE=sqlite $(BIN)/python -m pytest $(PYTEST_ARGS)
	MAESTRO_TEST_DATABASE=postgresql $(BIN)/python -m pytest $(PYTEST_ARGS)

test-sqlite: $(VENV)/.dev-installed system-test
	MAESTRO_TEST_DATABASE=sqlite $(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: $(VENV)/.dev-installed system-test
	MAESTRO_TEST_DATABASE=postgresql $(BIN)/python -m pytest $(PYTEST_ARGS)

system-test:
	@scripts/system-packages test

clean:
	rm -rf $(VENV) .pytest_cache
