# sparsitylab: the two set-up commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= reports

.PHONY: demo test test-all bench lint install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,dev,distributed,topology]"
	touch $(STAMP)

install: $(STAMP)

## Install, then run the flagship study on the bundled Boston data and say where its report is.
demo: $(STAMP)
	$(PY) -m sparsitylab.demo --out $(OUT)

## Install if needed, then run the test suite (slow tests excluded), one worker per core.
test: $(STAMP)
	$(PY) -m pytest -q -n auto

## Everything, slow tests included.
test-all: $(STAMP)
	$(PY) -m pytest -q -n auto -m ""

## Speed and memory goals; JSON under benchmarks/results/.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m benchmarks.run

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
