# Two commands do all set-up on a fresh machine with Python 3.11+:
#   make demo   -> creates .venv if missing, installs the toolkit, runs the bundled Xuhui study into maps/
#   make test   -> same set-up, then runs the test suite (what .ci/run calls)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test test-fast lint bench clean

# The maps inline Leaflet and d3 from web/node_modules (toolkit/webassets.py): installed here from the
# committed lock with npm (Node.js 18+), so the HTML maps never load anything from a CDN.
$(STAMP): pyproject.toml web/package.json $(wildcard web/package-lock.json)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@command -v npm >/dev/null 2>&1 || { echo "npm not found: install Node.js 18+ (the maps' JavaScript comes from npm)" >&2; exit 1; }
	if [ -f web/package-lock.json ]; then npm ci --prefix web --no-audit --no-fund; \
	else npm install --prefix web --no-audit --no-fund; fi
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/toolkit demo --out maps

test: $(STAMP)
	$(BIN)/python -m pytest -q

# the inner loop: everything but the tests that need the whole default study (marker full_study); CI runs `test`
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not full_study and not slow"

lint: $(STAMP)
	$(BIN)/ruff check toolkit tests bench

bench: $(STAMP)
	$(BIN)/python bench/coverage.py

clean:
	rm -rf $(VENV) maps/xuhui .pytest_cache
