# Every target builds .venv on first use, so a fresh clone needs nothing but python3 >= 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo run test lint fmt bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/aaisp-multi-exporter --demo $(ARGS)

run: $(STAMP)
	$(BIN)/aaisp-multi-exporter --config.file modules.toml $(ARGS)

test: $(STAMP)
	$(BIN)/pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Containerfile

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Needs Debian's wrk and prometheus-blackbox-exporter; installs them with apt-get when absent
# (as root, else through sudo). Writes benchmarks/RESULTS.md; see benchmarks/README.md.
bench: $(STAMP)
	@if ! command -v wrk >/dev/null || [ ! -x /usr/bin/prometheus-blackbox-exporter ]; then \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y wrk prometheus-blackbox-exporter; \
	fi
	$(BIN)/python -m benchmarks.run $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
