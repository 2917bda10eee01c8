# marketrec: `make run` starts the whole service, `make test` runs the whole suite.
# Both install what they need first (pipenv into ./.venv).
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := var/tools
PIPENV := $(TOOLS)/bin/pipenv
VENV := .venv
export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_IGNORE_VIRTUALENVS := 1
export PIPENV_VERBOSITY := -1

.PHONY: install run test lint lock benchmarks clean browser screenshots

$(PIPENV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "pipenv==2026.10.3"

# Re-sync whenever the lock changes.
$(VENV)/.synced: Pipfile.lock | $(PIPENV)
	$(PIPENV) sync --dev
	touch $@

install: $(VENV)/.synced

run: install
	$(VENV)/bin/python -m devstack

test: install browser
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Swagger UI and the dashboard are checked in headless Chromium (Playwright drives Debian's, no download of
# its own); install it when it is missing.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } || \
	  echo "chromium not installed: the Swagger UI and dashboard browser tests will be skipped"

lint: install
	$(VENV)/bin/ruff check app tests devstack benchmarks

lock: | $(PIPENV)
	$(PIPENV) lock

benchmarks: install
	@for script in benchmarks/*.py; do echo "== $$script"; $(VENV)/bin/python $$script || exit 1; done

clean:
	rm -rf var/mongo var/redis var/log var/prometheus var/celerybeat-schedule

# docs/screenshots/<page>.png of every dashboard page, from a stack of its own filled with test data.
screenshots: install browser
	$(VENV)/bin/python -m tests.dashboard.screenshots docs/screenshots
