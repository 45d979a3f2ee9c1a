# Everything a fresh machine needs: `make demo` runs the main job, `make test` the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,distributed]"
	touch $@

demo: setup
	$(PY) -m keras_nas.demo --dataset digits --flash-kb 64 --ram-kb 32 --out out

test: setup
	$(PY) -m pytest -q tests

bench: setup
	$(PY) benchmarks/bench_search.py

clean:
	rm -rf runs out .pytest_cache
