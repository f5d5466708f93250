# Two commands on a fresh clone, each setting up what it needs in a local virtual environment
# (./.venv), so they work where the system Python refuses `pip install` (PEP 668):
#
#   make run     install the simulation, then run Coventry 2023 (200 replications)
#   make test    install the test tools too, then lint, type-check and run the tests (as CI does)
#
# Also: `make app` (the what-if web app), `make images` (regenerate the pictures in docs/),
# `make clean-venv`. Options: PYTHON=/path/to/python3.11 (3.11 or newer), VENV=dir,
# CONFIG=configs/minimal.yaml, REPLICATIONS=50.

PYTHON ?= python3
VENV ?= .venv
CONFIG ?= configs/coventry-2023.yaml
REPLICATIONS ?= 200

BIN := $(VENV)/bin
PY := $(BIN)/python
LINTED := simulation tests experiments

.PHONY: run test app images clean-venv

run: $(VENV)/.installed-run
	$(BIN)/sufficiency run $(CONFIG) --replications $(REPLICATIONS)

test: $(VENV)/.installed-dev
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)
	$(PY) -m mypy simulation
	$(PY) -m pytest

app: $(VENV)/.installed-app
	$(BIN)/sufficiency app

images: $(VENV)/.installed-dev
	$(PY) docs/make_images.py

clean-venv:
	rm -rf $(VENV)

# The environment itself: one clear line if this Python is too old or has no venv module
# (Debian and Ubuntu ship it separately, as python3-venv).
$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
		echo "error: $(PYTHON) not found: install Python 3.11 or newer, or give one: make $(MAKECMDGOALS) PYTHON=/path/to/python3" >&2; exit 2; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); sufficiency needs 3.11 or newer: make $(MAKECMDGOALS) PYTHON=/path/to/python3.11" >&2; exit 2; }
	@$(PYTHON) -m venv $(VENV) >/dev/null 2>&1 || { rm -rf $(VENV); \
		echo "error: $(PYTHON) cannot create a virtual environment (no venv module): on Debian/Ubuntu run 'sudo apt-get install python3-venv', then make $(MAKECMDGOALS) again" >&2; exit 2; }
	$(PY) -m pip install --quiet --upgrade pip

# What each target installs, redone when pyproject.toml changes. The simulation alone does not
# download the app's Streamlit nor the test tools (pytest, ruff, mypy, Playwright).
$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-app: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[app]"
	@touch $@ $(VENV)/.installed-run

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $@ $(VENV)/.installed-run $(VENV)/.installed-app
