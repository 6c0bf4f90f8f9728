# Two commands do everything on a fresh machine with only Python: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SCALE ?= 0.01
PORT ?= 3000
# No DAGSTER_HOME here: `lakehouse` picks the instance's folder from LAKEHOUSE_PROFILE (the project
# root for embedded, deploy/production for production) unless DAGSTER_HOME is set.
export UV_PYTHON_DOWNLOADS := never
# Compile .pyc files at install: this machine sets PYTHONDONTWRITEBYTECODE, and without them every
# process compiles Dagster from source (about 2 s more per command).
export UV_COMPILE_BYTECODE := 1
# And for the project's own modules: this machine sets PYTHONDONTWRITEBYTECODE, so every process
# (each `lakehouse` command, each test worker and the commands the tests start) compiled lakehouse/
# and pytest re-wrote every test module again: about 0.6 s a process. The cache is `__pycache__/`
# beside the sources (git ignores it).
unexport PYTHONDONTWRITEBYTECODE

# xdist with one worker more than the cores (pyproject's `--dist loadgroup` keeps each shared build on
# one worker): much of the suite waits on child processes and servers, and a third worker fills those
# gaps (measured on 2 cores from a cold test cache, when the suite was smaller: 4 min 9 s with 2
# workers, 3 min 16 s with 3).
PYTEST_PARALLEL := -n $(shell echo $$(( $$(nproc) + 1 )))
# The fast tier waits on few child processes: one worker per core. Each worker collects (~6 s of CPU)
# and pays its own first uses and module fixtures again: on 2 cores, at load 6-9, `-n 2` took 115 s
# of CPU and 1:51 against `-n 3`'s 143 s and 2:04 (793 tests, 14:22-14:26).
FAST_PARALLEL := -n $(shell nproc)

.PHONY: run test test-fast test-costs dev bench lint format clean setup browser

run: $(VENV)/.synced  ## generate the simulated sources and build every asset through Dagster
	$(BIN)/lakehouse run --scale $(SCALE)

# The tests' temporary files (each test's tmp_path: Dagster instances, SQLite, DuckDB and PostgreSQL
# files, copies of built lakehouses: about half a gigabyte at the peak) on tmpfs when the machine has
# one with room. Those sync to disk at every commit, and on a busy disk that costs more wall time than
# the tests' CPU (five new Dagster instances: 14 s on /tmp, 3.6 s on /dev/shm). The cached builds
# stay in data/test-cache, on disk.
TEST_TMPDIR := $(shell [ -w /dev/shm ] && [ $$(df -Pk /dev/shm | awk 'NR==2 {print $$4}') -gt 2000000 ] && echo /dev/shm || echo $${TMPDIR:-/tmp})
PYTEST := TMPDIR=$(TEST_TMPDIR) $(BIN)/pytest

test: $(VENV)/.synced browser  ## run the whole test suite (what CI runs): every tier; budget 4 minutes on 2 cores
	$(PYTEST) $(PYTEST_PARALLEL)

browser:  ## Debian's chromium for the browser test (Playwright's own download is not available here)
	@.ci/install-chromium || echo "==> no chromium: the browser test (assets_tests/test_ui_browser.py) will be skipped"

test-fast: $(VENV)/.synced  ## the unit and integration tiers (no whole builds), under a minute
	$(PYTEST) $(FAST_PARALLEL) -m "not e2e"

test-costs: $(VENV)/.synced  ## the whole suite, then the CPU seconds of its costliest tests (ARGS=... narrows it)
	$(PYTEST) $(PYTEST_PARALLEL) -p assets_tests.cpu_costs $(ARGS)

dev: $(VENV)/.synced  ## open the Dagster UI on the same data and run history (Ctrl-C stops it)
	$(BIN)/lakehouse dev --host 127.0.0.1 --port $(PORT)

bench: $(VENV)/.synced  ## full build + one-day incremental run, time and peak memory per layer
	$(BIN)/lakehouse bench --scale $(SCALE)

lint: $(VENV)/.synced  ## style, formatting, the layering contract, public Dagster API only, definitions load
	$(BIN)/ruff check lakehouse assets_tests && $(BIN)/ruff format --check lakehouse assets_tests
	$(BIN)/lint-imports
	@! grep -rnE "^\s*(from|import) dagster\._" lakehouse || (echo "private Dagster API imported (above)"; exit 1)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/dg check defs

format: $(VENV)/.synced
	$(BIN)/ruff check --fix lakehouse assets_tests && $(BIN)/ruff format lakehouse assets_tests

clean:  ## delete everything the lakehouse wrote (keeps data/README.md)
	find data -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +

setup: $(VENV)/.synced

# Install from the committed lock with uv; bootstrap uv with pip when it is missing; fall back to
# plain pip (versions from pyproject ranges, not the lock) when uv cannot be installed at all.
$(VENV)/.synced: pyproject.toml uv.lock
	@if command -v uv >/dev/null 2>&1; then UV=uv; \
	elif [ -x .tools/bin/uv ] || ($(PYTHON) -m venv .tools && .tools/bin/pip install -q uv); then UV=.tools/bin/uv; \
	else UV=; fi; \
	if [ -n "$$UV" ]; then \
		echo "==> installing the locked environment into $(VENV) with $$UV"; \
		$$UV sync --frozen --python "$$(command -v $(PYTHON))" || exit 1; \
	else \
		echo "==> uv unavailable: installing with pip from pyproject ranges (not the lock)"; \
		$(PYTHON) -m venv $(VENV) && $(BIN)/pip install -q -e . pytest pytest-xdist hypothesis ruff import-linter && $(BIN)/python -m compileall -q $(VENV)/lib || exit 1; \
	fi
	@touch $@
