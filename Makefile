# monitor: `make run` (the daemon on the shipped config, SQLite) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run poll test test-deps check lint bench eval clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install  ## init (idempotent) then the daemon: polls feeds, sends the daily digest
	$(BIN)/monitor init
	$(BIN)/monitor run

poll: install  ## one polling cycle over every feed (cron mode, ignoring schedules)
	$(BIN)/monitor init
	$(BIN)/monitor poll --all

# The tests start their own PostgreSQL, Redis and TLS servers from Debian packages, and drive
# the web view in Debian's headless Chromium through its chromedriver (nothing is downloaded).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
test-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v redis-server >/dev/null \
	    || ! command -v openssl >/dev/null || ! command -v chromium >/dev/null \
	    || ! command -v chromedriver >/dev/null; then \
	  echo "installing the test servers and browser: postgresql redis-server openssl chromium chromium-driver (apt)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends postgresql redis-server openssl \
	    chromium chromium-driver >/dev/null; \
	fi

test: install test-deps
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: lint test

bench: install
	$(BIN)/python -m bench

eval: install
	$(BIN)/python eval/eval_dedup.py
	$(BIN)/python eval/eval_dedup_groups.py
	$(BIN)/python eval/eval_topics.py
	$(BIN)/python eval/eval_extract.py
	$(BIN)/python eval/eval_feedcorpus.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
