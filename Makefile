# The same targets locally and in CI. Each creates .venv and installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run examples test check bench bench-speed clean

# torch first, pinned to the CPU build: an unpinned torch would pull gigabytes of CUDA packages.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: the default study (the embedded default job): build organisms, calibrate, research
## them blind, assess, unseal and score; writes runs/<id>/report.html
run: $(STAMP)
	$(BIN)/neurath run

## examples: assess every example manifest
examples: $(STAMP)
	@for f in examples/*.yaml; do echo "== $$f"; $(BIN)/neurath assess "$$f" || exit $$?; done

## test: the whole test suite (what CI runs); the ledger tests start a throwaway PostgreSQL
## server, whose programs scripts/ensure-postgresql installs where they are missing; the
## dashboard's browser test drives Debian's chromium, which scripts/ensure-chromium installs
test: $(STAMP)
	scripts/ensure-postgresql
	scripts/ensure-chromium
	$(BIN)/python -m pytest -q

## check: lint and type-check the package
check: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

## bench: the calibration benchmark (a population of 150 organisms over every mechanism, split
## in-distribution, leave-one-mechanism-out, held-out cue bank and lineage); writes
## runs/bench-<hash>/bench.json and bench.html. Figures in BENCHMARKS.md.
bench: $(STAMP)
	$(BIN)/neurath bench --tier full

## bench-speed: the speed and memory benchmarks recorded in BENCHMARKS.md
bench-speed: $(STAMP)
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_assess_bulk.py
	$(BIN)/python benchmarks/bench_ledger_backends.py
	$(BIN)/python benchmarks/bench_ray.py
	$(BIN)/python benchmarks/bench_organisms.py
	$(BIN)/python benchmarks/bench_battery.py
	$(BIN)/python benchmarks/bench_study.py
	$(BIN)/python benchmarks/bench_review.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
