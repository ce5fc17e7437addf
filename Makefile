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

## Packaging venv: the app and PyInstaller only, so no training package can reach the bundle.
PKG_VENV := .venv-pkg
STAMP_PKG := $(PKG_VENV)/.stamp-pkg
$(STAMP_PKG): pyproject.toml
	$(PYTHON) -m venv $(PKG_VENV)
	printf '*\n' > $(PKG_VENV)/.gitignore
	$(PKG_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PKG_VENV)/bin/python -m pip install --quiet '.[packaging]'
	touch $@

## Build the app folder, dist/*.tar.gz and dist/*.deb (packaging/README.md; PACKAGE_ARGS=--help).
package: $(STAMP_PKG)
	$(PKG_VENV)/bin/python packaging/build.py $(PACKAGE_ARGS)

## Build the packages, then run the frozen app against the source tree (tests/packaging).
package-test: package $(STAMP_DEV)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m slow tests/packaging $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
