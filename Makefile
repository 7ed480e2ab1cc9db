# Two commands do all set-up on a fresh machine with Python 3.11+:
#   make demo   -> creates .venv if missing, installs the toolkit, runs the bundled Xuhui study into maps/
#   make test   -> same set-up, then runs the test suite (what .ci/run calls)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test test-fast lint bench clean vendor

# The maps inline Leaflet and d3 from the copy shipped in toolkit/outputs/vendor (no npm needed to run).
# Where npm exists, the pinned npm packages are installed too, so that the tests can check that copy
# byte for byte (tests/test_webassets_vendor.py; CI needs npm). `make vendor` refreshes the copy.
$(STAMP): pyproject.toml web/package.json $(wildcard web/package-lock.json)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	if command -v npm >/dev/null 2>&1; then npm ci --prefix web --no-audit --no-fund; \
	else echo "npm not found: maps work (their JavaScript ships in toolkit/outputs/vendor); the check of that copy against npm is skipped" >&2; fi
	touch $(STAMP)

vendor: $(STAMP)
	npm ci --prefix web --no-audit --no-fund
	$(BIN)/python -m toolkit.outputs.webassets vendor

demo: $(STAMP)
	$(BIN)/toolkit demo --out maps

test: $(STAMP)
	$(BIN)/python -m pytest -q

# the inner loop: everything but the tests that need the whole default study (marker full_study); CI runs `test`
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not full_study and not slow"

# ruff (style, complexity, argument counts) and mypy (types; settings and the untyped packages in pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check toolkit tests bench
	$(BIN)/mypy toolkit

bench: $(STAMP)
	$(BIN)/python bench/coverage.py

clean:
	rm -rf $(VENV) maps/xuhui .pytest_cache
