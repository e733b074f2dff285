# monitor: `make run` (the daemon on the shipped config, SQLite) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run poll test check lint bench eval clean

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

test: install
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
	$(BIN)/python eval/eval_topics.py
	$(BIN)/python eval/eval_extract.py
	$(BIN)/python eval/eval_feedcorpus.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
