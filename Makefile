# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(PYTHON) -m uv
endif
export UV_PYTHON_DOWNLOADS := never
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: uv run install install-dev migrate demo test lint format bench clean

uv:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet uv

install: uv
	$(UV) sync --frozen --no-dev --inexact

install-dev: uv
	$(UV) sync --frozen

migrate: install
	$(BIN)/portal migrate

demo: migrate
	$(BIN)/portal demo

run: demo
	$(BIN)/portal serve --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/cold_import.py
	$(BIN)/python bench/aging_report.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
