# Everything a fresh machine needs: `make demo` runs the main job, `make test` the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test bench notebooks clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,distributed,qat,mnist1d]"
	touch $@

demo: setup
	$(PY) -m keras_nas.demo --dataset digits --flash-kb 8.5 --ram-kb 3.2 --out out

# One process per core, a test file per process at a time (module fixtures stay shared).
TEST_WORKERS ?= 2

# The import contracts of pyproject.toml first (import-linter; see tools/lint_imports.py):
# an import that runs back up the layers fails the tests.
test: setup
	$(PY) tools/lint_imports.py
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15 tests

bench: setup
	$(PY) benchmarks/bench_expert.py --task digits

# Runs the notebooks with their real budgets on the built-in data and saves their outputs in them
# (for readers on the web; `python notebooks/execute.py --fast` uses the tests' tiny budgets).
notebooks: setup
	$(PY) notebooks/execute.py

clean:
	rm -rf runs out .pytest_cache
