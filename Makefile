# Two commands matter: `make run` (serve web + worker locally) and `make test` (whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test venv assets browser lint format migrate clean

venv: $(STAMP) assets

# Front-end packages (package.json, pinned in package-lock.json) from the npm registry into node_modules/,
# which Django serves as static files (config/settings.py STATICFILES_DIRS). Nothing is vendored.
ASSETS := node_modules/.package-lock.json
assets: $(ASSETS)

$(ASSETS): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js 18+) is required to install the web assets"; exit 1; }
	npm ci --no-audit --no-fund
	touch $@

# The browser tests drive Debian's chromium (never a downloaded browser); installing it needs root.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y --no-install-recommends chromium; \
	else echo "Chromium is missing: run 'sudo make browser' (apt-get install chromium); browser tests will be skipped"; fi

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

migrate: $(STAMP) $(ASSETS)
	$(PY) manage.py migrate --noinput

run: migrate
	@if $(PY) manage.py help --commands | grep -qx seed_catalog; then \
		$(PY) manage.py seed_catalog; \
	else \
		echo "(no seed_catalog command yet: catalog not loaded)"; \
	fi
	$(PY) manage.py ensure_demo_user
	$(PY) manage.py serve_all

test: $(STAMP) $(ASSETS) browser
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf var test-artifacts staticfiles
