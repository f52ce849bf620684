# crm-segments: `make run` builds the warehouse on the bundled sample; `make test` runs every check.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
INSTALLED := $(VENV)/.installed
# The Dagster UI's port: make dev PORT=3001
PORT ?= 3000

.PHONY: install run replay segments check-segments docs report chromium semantic test test-fast pytest lint format dev sample bench bench-replay lock clean

install: $(INSTALLED)

$(INSTALLED): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "crm-segments needs Python 3.11 (set PYTHON=...)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	touch $@

# `make run`, `make replay` and `make dev` share one Dagster instance (an exported DAGSTER_HOME wins), so the
# UI shows the runs `make run` made. The tests don't see it: they run on an ephemeral instance.
run replay dev: export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

run: $(INSTALLED)
	$(BIN)/python -m orchestration run

# Builds the history from the existing order log: make replay FROM=2024-01-01 TO=2024-06-30 STEP=7
replay: $(INSTALLED)
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make replay FROM=YYYY-MM-DD TO=YYYY-MM-DD [STEP=7] [CLV_FIT_EVERY=7] [REBUILD=1]"; exit 2; }
	$(BIN)/python -m orchestration replay --from $(FROM) --to $(TO) --step $(or $(STEP),1) $(if $(CLV_FIT_EVERY),--clv-fit-every $(CLV_FIT_EVERY)) $(if $(REBUILD),--rebuild-history)

# Compiles the segment catalogue into dbt files (a plain `dbt build` then builds the segments).
segments: $(INSTALLED)
	$(BIN)/python -m orchestration segments compile

# Checks the segment catalogue against the existing warehouse: every problem, member counts; writes nothing.
check-segments: $(INSTALLED)
	$(BIN)/python -m orchestration segments check

# dbt docs as one static page beside the warehouse: <warehouse stem>_docs/index.html (its path is printed).
docs: $(INSTALLED)
	$(BIN)/python -m orchestration docs

# Rebuilds the segment report (<warehouse stem>_report/index.html) from the existing warehouse; prints its path.
report: $(INSTALLED)
	$(BIN)/python -m orchestration report

test: lint semantic pytest

# Writes target/semantic_manifest.json, which MetricFlow's `mf` reads, and validates the semantic models and
# metrics (dbt_project/models/semantic); the warehouse is not opened.
semantic: $(INSTALLED)
	$(BIN)/dbt parse --quiet --write-json
	$(BIN)/mf validate-configs --skip-dw

# The tests run on every core (pytest-xdist; PYTEST_WORKERS=1 runs them in one process).
PYTEST_WORKERS ?= auto
pytest: $(INSTALLED) chromium
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope

# The segment report's tests load the page in headless Chromium: Debian's package, installed when missing.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium:
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium for the report tests"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

# The inner loop: everything but the tests marked slow (whole warehouses, Dagster runs, make dev).
test-fast: $(INSTALLED) chromium
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope -m "not slow"

lint: $(INSTALLED)
	$(BIN)/ruff check orchestration tests bench docs
	$(BIN)/ruff format --check orchestration tests bench docs
	@mkdir -p target
	# The dbt templater opens a warehouse to compile; a scratch one keeps the real one untouched.
	# sqlfluff lints with one process per core (--processes 0).
	CRM_SEGMENTS_DUCKDB=target/sqlfluff.duckdb DBT_TARGET_PATH=target/sqlfluff $(BIN)/sqlfluff lint dbt_project --processes 0

format: $(INSTALLED)
	$(BIN)/ruff format orchestration tests bench docs
	$(BIN)/ruff check --fix orchestration tests bench docs
	@mkdir -p target
	CRM_SEGMENTS_DUCKDB=target/sqlfluff.duckdb DBT_TARGET_PATH=target/sqlfluff $(BIN)/sqlfluff fix dbt_project

# The Dagster UI on http://127.0.0.1:$(PORT). `exec`: Ctrl-C and SIGTERM reach `dagster dev` with no shell
# in between; orchestration/dev.py says why the launcher resets them.
dev: $(INSTALLED)
	exec $(BIN)/python -m orchestration.dev --port $(PORT)

# Regenerates the bundled sample (deterministic: the same files every time).
sample: $(INSTALLED)
	$(BIN)/python -m orchestration.sample_data

# The benchmark (not a test): make bench [SCALES=100k,1m]; data and warehouses go to BENCH_DIR
# (default /tmp/crm-bench), the results to BENCHMARKS.md.
bench: $(INSTALLED)
	$(BIN)/python -m bench $(if $(SCALES),--scales $(SCALES))

# Only the replay: 52 weekly as-of dates of the sample (`make bench` runs it too, after the scales).
bench-replay: $(INSTALLED)
	$(BIN)/python -m bench.replay

# Re-resolves the pinned dependency set after a change to pyproject.toml.
lock: $(INSTALLED)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -o requirements.lock

clean:
	rm -rf $(VENV) target logs dbt_packages .pytest_cache
