# Two commands on a fresh clone: `make demo` and `make test`. Each creates .venv if missing
# and installs the project with its test extras first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 2

.PHONY: demo test lint typecheck unit unit-future-clock docs notebooks bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rfcx-frames demo

lint: $(STAMP)
	$(BIN)/ruff check rfcx_frames tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --durations=15 -q

# The client and cache tests again with the clock ten years ahead: a test that depends on
# today's date fails now, not when the date passes.
unit-future-clock: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q --clock-years-ahead 10 tests/client tests/cache

test: lint typecheck unit unit-future-clock

docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

# Rewrites BENCHMARKS.md: a fresh header, then one section per bench/bench_*.py (~10 min);
# if a script fails the previous file is put back. Scripts share a throw-away cache folder,
# so no run reads or fills the user's cache.
bench: $(STAMP)
	@cache=$$(mktemp -d); old=$$cache/BENCHMARKS.md.old; export RFCX_FRAMES_CACHE=$$cache/cache; \
	if [ -f BENCHMARKS.md ]; then cp BENCHMARKS.md "$$old"; fi; \
	fail() { if [ -f "$$old" ]; then cp "$$old" BENCHMARKS.md; fi; rm -rf "$$cache"; \
		echo "== $$1 failed; BENCHMARKS.md left as it was"; exit 1; }; \
	$(BIN)/python bench/report.py --reset || fail bench/report.py; start=$$(date +%s); \
	for script in bench/bench_*.py; do \
		t0=$$(date +%s); echo "== $$script"; $(BIN)/python $$script || fail $$script; \
		echo "== $$script: $$(( $$(date +%s) - t0 )) s"; done; \
	rm -rf "$$cache"; echo "== make bench: $$(( $$(date +%s) - start )) s in all"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
