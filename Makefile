# Waste Sorter — the commands a newcomer runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP_APP := $(VENV)/.stamp-app
STAMP_DEV := $(VENV)/.stamp-dev

.PHONY: run test lint typecheck stress bench package package-test clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP_APP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev,training]'
	touch $@ $(STAMP_APP)

## Set up and launch the app with the shipped default model.
run: $(STAMP_APP)
	$(BIN)/waste-sorter $(ARGS)

## Set up and run the whole test suite headless.
test: $(STAMP_DEV)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP_DEV)
	$(BIN)/ruff check app training tests bench
	$(BIN)/mypy

stress: $(STAMP_DEV)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: $(STAMP_DEV)
	$(PY) -m bench

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
