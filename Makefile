# Two commands matter: `make run` (serve web + worker locally) and `make test` (whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test venv lint format migrate clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

run: migrate
	@if $(PY) manage.py help --commands | grep -qx seed_catalog; then \
		$(PY) manage.py seed_catalog; \
	else \
		echo "(no seed_catalog command yet: catalog not loaded)"; \
	fi
	$(PY) manage.py ensure_demo_user
	$(PY) manage.py serve_all

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf var test-artifacts staticfiles
