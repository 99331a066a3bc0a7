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
# The Lambda zip is built from its own virtual environment: the runtime dependencies and
# Zappa only (no test tools), on the Python of the Lambda runtime (zappa_settings.json).
DEPLOY_VENV := .venv-deploy
DEPLOY_PYTHON ?= 3.11
STAGE ?= dev
LAMBDA_ZIP ?= build/lambda.zip

# moto's DynamoDB on this machine for `make run-dynamodb` (in memory: gone when it stops).
DYNAMODB_PORT ?= 8001

.PHONY: run-dynamodb uv run install install-dev install-deploy migrate demo test test-slow lint format bench bench-fanout package clean messages translations

uv:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet uv

# Each installed module is compiled once, at install: with PYTHONDONTWRITEBYTECODE set (as on
# some machines) every process, each test worker among them, would compile moto, boto3 and
# the rest again. (Not the deployment venv: the Lambda zip stays as Zappa builds it.)
install: uv
	UV_COMPILE_BYTECODE=1 $(UV) sync --frozen --no-dev --inexact
	$(MAKE) --no-print-directory translations

install-dev: uv
	UV_COMPILE_BYTECODE=1 $(UV) sync --frozen
	$(MAKE) --no-print-directory translations

# The languages (README, "Languages"): `make messages` extracts every marked string of the
# patient pages (babel.cfg) into translations/messages.pot and merges it into each
# language's messages.po; translators fill those in. `make translations` compiles every
# catalog (each domain: messages, email) into the .mo files the portal reads: built at
# install and for the Lambda zip, never committed.
PYBABEL ?= $(BIN)/pybabel
messages:
	$(PYBABEL) -q extract -F babel.cfg -k _l -k lazy_gettext -k N_ --no-wrap --sort-by-file \
		--project patient-billing-portal --msgid-bugs-address "" -o translations/messages.pot .
	$(PYBABEL) -q update -i translations/messages.pot -d translations -D messages \
		--no-wrap --no-fuzzy-matching
	$(PYBABEL) -q extract -F translations/babel-email.cfg -k N_ -c TRANSLATORS: \
		--project=portal -o translations/email.pot .
	$(PYBABEL) -q update -D email -i translations/email.pot -d translations \
		--no-fuzzy-matching --width 100

translations:
	@shopt -s nullglob; for po in translations/*/LC_MESSAGES/*.po; do \
		$(PYBABEL) -q compile -i "$$po" -o "$${po%.po}.mo" \
			-l "$$(basename "$$(dirname "$$(dirname "$$po")")")" || exit 1; \
	done

migrate: install
	$(BIN)/portal migrate

demo: migrate
	$(BIN)/portal demo

run: demo
	$(BIN)/portal serve --host $(HOST) --port $(PORT)

# The same portal on DynamoDB without AWS: moto's server on 127.0.0.1, stopped with the portal.
run-dynamodb: install-dev
	@mkdir -p var
	$(BIN)/moto_server -H 127.0.0.1 -p $(DYNAMODB_PORT) > var/moto.log 2>&1 & \
	trap "kill $$! 2>/dev/null" EXIT; \
	until (exec 3<>/dev/tcp/127.0.0.1/$(DYNAMODB_PORT)) 2>/dev/null; do sleep 0.1; done; \
	export PORTAL_STORE=dynamodb PORTAL_DYNAMODB_TABLE=portal-local \
		AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$(DYNAMODB_PORT) \
		AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1; \
	$(BIN)/portal migrate && $(BIN)/portal demo && \
		$(BIN)/portal serve --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/cfn-lint infra/*.yaml

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Three workers on this 2-CPU machine (a third of the time a worker waits on moto over HTTP,
# a subprocess or Chromium: 7 min 11 s of `make test` on a clean clone with three, against
# about 10 min with two), each test file on one of them: a module's fixtures (the Lambda
# zip, the wheel, a browser site, a simulated year) are built once. Not --dist loadgroup:
# with pytest 9.2 it ignores xdist_group (pytest-dev/pytest-xdist#1386).
PYTEST_WORKERS ?= 3
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile
# The tests' files (SQLite databases among them, each commit an fsync) in memory where the
# machine has /dev/shm: the same system calls, without waiting on the disk. One folder per
# checkout and target, emptied by pytest when a run starts; a passed test's files go at once.
TEST_TMP_ROOT := $(shell test -d /dev/shm -a -w /dev/shm && echo /dev/shm || echo $${TMPDIR:-/tmp})
TEST_TMP = $(TEST_TMP_ROOT)/portal-tests-$(shell printf %s "$(CURDIR)" | cksum | cut -d' ' -f1)-$@
# Bytecode written for the portal and for pytest's rewritten test modules, even where
# PYTHONDONTWRITEBYTECODE is set: else every worker compiles every module again each run.
PYTEST = env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -o tmp_path_retention_policy=failed

# The full-size scenario runs (@pytest.mark.slow: 200 replayed payments, 300 statements) run
# in `make test-slow`; `make test` runs a smaller size of each. So do the costliest property
# tests (tests/examples.py): `make test-slow` runs them again with their full example count.
# Also in `make test-slow` only: every crash kill point on DynamoDB (tests/crash/test_crash.py;
# SQLite's run in `make test`) and the whole store contract on the sharded DynamoDB store
# (tests/contract/conftest.py; `make test` checks the shards in test_dynamodb_shards.py).
# And the accessibility sweep at each page's other width (tests/browser/test_accessibility.py).
# @pytest.mark.serial: items xdist cannot tell apart (one nodeid), run in one process.
test: lint
	$(PYTEST) $(PYTEST_PARALLEL) --basetemp=$(TEST_TMP) -m "not slow and not serial" $(PYTEST_ARGS)
	$(PYTEST) -p no:xdist --basetemp=$(TEST_TMP)-serial -m "serial and not slow" $(PYTEST_ARGS)

test-slow: install-dev
	$(PYTEST) $(PYTEST_PARALLEL) --basetemp=$(TEST_TMP) -m "slow and not serial" $(PYTEST_ARGS)
	PORTAL_FULL_EXAMPLES=1 $(PYTEST) $(PYTEST_PARALLEL) --basetemp=$(TEST_TMP)-examples \
		-m "not slow and not serial" \
		tests/unit/test_mail_bytes.py tests/unit/test_ledger.py tests/unit/test_staff_domain.py $(PYTEST_ARGS)
	$(PYTEST) -p no:xdist --basetemp=$(TEST_TMP)-serial -m "slow and serial" $(PYTEST_ARGS) || [ $$? -eq 5 ]

# `zappa package` reads zappa_settings.json, copies the project folder and the *active*
# virtualenv's site-packages (found through VIRTUAL_ENV) into one zip with its handler.py and
# a generated zappa_settings.py (the stage's `exclude` list leaves out the rest). It calls
# no AWS service and needs no credentials; --json skips its check for a newer Zappa.
# tools/finish_lambda_zip.py then puts bytecode for the runtime's Python (the deploy venv's)
# in place of the sources and leaves out what the portal never loads.
install-deploy: uv
	UV_PROJECT_ENVIRONMENT=$(DEPLOY_VENV) $(UV) sync --frozen --no-dev --group deploy \
		--no-install-project --python $(DEPLOY_PYTHON)

package: install-deploy
	$(MAKE) --no-print-directory translations PYBABEL=$(DEPLOY_VENV)/bin/pybabel
	@mkdir -p $(dir $(LAMBDA_ZIP))
	rm -f $(LAMBDA_ZIP)
	VIRTUAL_ENV="$(CURDIR)/$(DEPLOY_VENV)" PATH="$(CURDIR)/$(DEPLOY_VENV)/bin:$$PATH" \
		$(DEPLOY_VENV)/bin/zappa package $(STAGE) --output $(LAMBDA_ZIP) --json --disable_progress
	$(DEPLOY_VENV)/bin/python tools/finish_lambda_zip.py $(LAMBDA_ZIP) --stage $(STAGE)

bench: install-dev
	$(BIN)/python bench/cold_import.py
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/aging_report.py
	$(BIN)/python bench/statement_page.py
	$(BIN)/python bench/statement_pdf.py
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/sqlite_payment.py
	$(BIN)/python bench/reminders.py
	$(BIN)/python bench/import_csv.py
	$(BIN)/python bench/mail_build.py
	$(BIN)/python bench/plan_charges.py

# The fan-out over 1, 2, 4 and 8 worker processes (docs/scaling.md): about ten minutes.
bench-fanout: install-dev
	$(BIN)/python bench/fanout.py

clean:
	rm -rf $(VENV) $(DEPLOY_VENV) build var .pytest_cache .ruff_cache .mypy_cache .hypothesis
