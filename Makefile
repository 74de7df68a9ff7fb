# Every target builds .venv on first use, so a fresh clone needs nothing but python3 >= 3.11.
#
# One virtual environment, filled in two steps (each with its stamp file):
#   .venv/.runtime  the exporter and its runtime dependencies only: `make demo`, `make run`
#   .venv/.dev      plus the development tools (pytest, ruff, mypy, ...): `make test`, `lint`,
#                   `fmt`, `bench`; it upgrades the same .venv in place.
# So a first `make demo` is quick and small, and `make test` afterwards only adds the tools.
# Editing pyproject.toml redoes both steps on next use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime
DEV := $(VENV)/.dev
# A second environment with the lowest runtime versions pyproject.toml allows and the test
# tools only (`make test-lowest`, run by .ci/run): the bounds are tried, not assumed.
LOWEST := .venv-lowest
LOWEST_CONSTRAINTS := .ci/lowest-constraints.txt
# The fast tests, less the two that drive programs the test extra leaves out (selenium for
# Chromium, the benchmark harness's py-spy and wrk).
LOWEST_ARGS ?= -q -m 'not slow' --ignore=tests/test_browser.py --ignore=tests/test_benchmarks.py

.PHONY: demo run test test-lowest lint fmt examples lock bench soak clean

# A current pip installs the rest faster than the one ensurepip bundles, upgrade included.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# The dev install includes the runtime one, so it marks both done.
$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(RUNTIME) $@

demo: $(RUNTIME)
	$(BIN)/aaisp-multi-exporter --demo $(ARGS)

run: $(RUNTIME)
	$(BIN)/aaisp-multi-exporter --config.file modules.toml $(ARGS)

test: $(DEV)
	$(BIN)/pytest $(ARGS)

# Rebuilt from scratch when the bounds or the pins change, so nothing newer lingers.
$(LOWEST)/.stamp: pyproject.toml $(LOWEST_CONSTRAINTS)
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/pip install --quiet --upgrade pip
	$(LOWEST)/bin/pip install --quiet -c $(LOWEST_CONSTRAINTS) -e '.[test]'
	$(LOWEST)/bin/pip check
	touch $@

test-lowest: $(LOWEST)/.stamp
	$(LOWEST)/bin/pytest $(LOWEST_ARGS) $(ARGS)

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Containerfile

fmt: $(DEV)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The image's runtime pins, every file's hash included (the Containerfile installs them with
# --require-hashes): the newest versions pyproject.toml allows on this Python (the image's,
# 3.11). Rerun after changing dependencies, or to take newer releases; review the diff.
lock: $(DEV)
	CUSTOM_COMPILE_COMMAND='make lock' $(BIN)/pip-compile --quiet --generate-hashes \
		--strip-extras --allow-unsafe --upgrade --no-emit-index-url --no-emit-find-links \
		--output-file requirements.lock pyproject.toml

# Files made from others: examples/kubernetes/prometheusrule.yaml from examples/rules/*.yml.
examples: $(DEV)
	$(BIN)/python -m tests.prometheusrule

# Needs Debian's wrk and prometheus-blackbox-exporter; installs them with apt-get when absent
# (as root, else through sudo). Writes benchmarks/RESULTS.md; see benchmarks/README.md.
bench: $(DEV)
	@if ! command -v wrk >/dev/null || [ ! -x /usr/bin/prometheus-blackbox-exporter ]; then \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y wrk prometheus-blackbox-exporter; \
	fi
	$(BIN)/python -m benchmarks.run $(ARGS)

# The exporter for a long run under faults, reloads, hostile clients and steady probes; exit 1
# when anything broke (benchmarks/README.md, "make soak"). `make soak SECONDS=120` for a short
# run. SECONDS is read from make's command line or the environment only: bash's own $SECONDS
# (seconds since the shell started) is never exported, so it cannot leak in.
SOAK_SECONDS := $(if $(filter command line environment,$(origin SECONDS)),$(SECONDS),1800)

soak: $(DEV)
	$(BIN)/python -m benchmarks.soak --seconds $(SOAK_SECONDS) $(ARGS)

clean:
	rm -rf $(VENV) $(LOWEST) .mypy_cache .pytest_cache .ruff_cache
