# creditbook — every target installs what it needs on first use, pinned by uv.lock.
# uv itself is bootstrapped into .tools/ with the system python, so a fresh machine needs only python3 and make.

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_LINK_MODE := copy

.DEFAULT_GOAL := help
.PHONY: help install app serve test bench lint format soak clean browser wrk

help:
	@echo "make app    the app (simulator, pricebooks, wallet, admin) on a demo ledger seeded on first run;"
	@echo "            on 127.0.0.1:8501 (HOST=0.0.0.0 PORT=8600 DB=other.db to change)"
	@echo "make serve  the credits REST API (reference/) at http://127.0.0.1:8000/api/credits/ on the same demo ledger"
	@echo "make test   run the test suite (PostgreSQL tests skip unless CREDITBOOK_REQUIRE_POSTGRES=1)"
	@echo "make bench  run the benchmarks, each beside its baseline"
	@echo "make soak   the reliability battery's long forms (minutes: 200 kills, 16k-charge races)"
	@echo "make lint   ruff check, ruff format --check and mypy (fails on any finding)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	@command -v cc >/dev/null 2>&1 || { echo "durable-rules is built from source: install a C compiler" \
		"and the Python headers first (Debian: apt-get install build-essential python3-dev)"; exit 1; }
	$(UV) sync --frozen --all-extras --python $(PYTHON)
	@touch $@

install: $(STAMP)

DB ?= creditbook.db
PORT ?= 8501
HOST ?= 127.0.0.1

# The app listens on this machine only; HOST=0.0.0.0 make app opens it to the network (then set
# CREDITBOOK_ADMIN_PASSWORD: the wallet and admin pages are read-only without it).
app: $(STAMP)
	@test -f $(DB) || $(VENV)/bin/creditbook demo seed -d $(DB)
	@echo "creditbook app: http://$(HOST):$(PORT) (wallet and admin are read-only unless CREDITBOOK_ADMIN_PASSWORD is set)"
	CREDITBOOK_DATABASE_URL=sqlite:///$(abspath $(DB)) $(VENV)/bin/streamlit run simulator/app/main.py \
		--server.port $(PORT) --server.address $(HOST)

# The credits API (creditbook_django) served by the reference project under gunicorn: on SQLite the
# ledger is $(DB), seeded like `make app`'s, with Django's own tables beside it in reference.sqlite3;
# DATABASE_URL=postgresql://... puts both in that PostgreSQL database (the ledger in its own schema).
API_PORT ?= 8000
API_ENV = CREDITBOOK_REFERENCE_DIR=$(CURDIR) CREDITBOOK_DATABASE_URL=sqlite:///$(abspath $(DB))
serve: $(STAMP)
	@test -n "$$DATABASE_URL" || test -f $(DB) || $(VENV)/bin/creditbook demo seed -d $(DB)
	$(API_ENV) $(VENV)/bin/python -m reference migrate --verbosity 1
	$(API_ENV) $(VENV)/bin/python -m reference demo_api
	@echo "credits API: http://127.0.0.1:$(API_PORT)/api/credits/ (users: each demo clinic's id and staff, password demo)"
	$(API_ENV) $(VENV)/bin/gunicorn reference.wsgi --bind 127.0.0.1:$(API_PORT) \
		--workers 2 --access-logfile -

# The browser test drives Debian's chromium through Playwright; install it when missing (root only).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing chromium for the browser test"; \
			(apt-get install -y chromium >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y chromium >/dev/null)); \
		else echo "chromium is not installed (Debian: apt-get install chromium): the browser test will skip"; fi; }

test: $(STAMP) browser
	$(VENV)/bin/pytest -n 2 --dist loadfile

soak: $(STAMP)
	CREDITBOOK_SOAK=1 $(VENV)/bin/pytest tests/reliability -rA -s

# The API benchmark drives gunicorn with wrk (Debian's package); installed when missing (root only).
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			(apt-get install -y wrk >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y wrk >/dev/null)); \
		else echo "wrk is not installed (Debian: apt-get install wrk): the api benchmark will skip"; fi; }

bench: $(STAMP) wrk
	$(VENV)/bin/python -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache .hypothesis .bench-cache
