# Two commands do all set-up on a fresh machine with Python 3.11+:
#   make demo   -> creates .venv if missing, installs the toolkit, runs the bundled Xuhui study into maps/
#   make test   -> same set-up, then runs the test suite (what .ci/run calls)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/toolkit demo --out maps

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check toolkit tests bench

bench: $(STAMP)
	$(BIN)/python bench/coverage.py

clean:
	rm -rf $(VENV) maps/xuhui .pytest_cache
