# Keyslip: `make run` to try it, `make test` to prove it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask
export FLASK_APP := wsgi.py

.PHONY: run test bench lint install chromium print-libs screenshots clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(VENV)/.installed

# PORT=5001 make run serves elsewhere; links in messages follow (FLASK_BASE_URL).
PORT ?= 5000
run: install print-libs
	@$(PY) -c 'import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", $(PORT)))' 2>/dev/null \
	  || { echo "Port $(PORT) is in use: try PORT=5001 make run"; exit 1; }
	$(FLASK) db upgrade
	$(FLASK) demo seed
	FLASK_BASE_URL=http://127.0.0.1:$(PORT) $(FLASK) demo sign-ins
	FLASK_BASE_URL=http://127.0.0.1:$(PORT) $(FLASK) run --host 127.0.0.1 --port $(PORT)

# The browser tests drive Debian's Chromium; Playwright's own browser download is not used.
chromium:
	@command -v chromium >/dev/null || { \
	  echo "Installing Chromium from Debian's packages..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; }

# WeasyPrint needs Pango and HarfBuzz's subsetter; Noto and DejaVu print names in any script.
PRINT_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-core fonts-noto-cjk fonts-dejavu-core
print-libs:
	@missing=$$(for p in $(PRINT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	[ -z "$$missing" ] || { \
	  echo "Installing what WeasyPrint needs from Debian's packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; }

# axe-core (npm) checks every main page for accessibility problems in the browser tests.
AXE := .cache/axe/node_modules/axe-core/axe.min.js
$(AXE):
	npm install --silent --no-audit --no-fund --prefix .cache/axe axe-core@4.14

test: install chromium print-libs $(AXE)
	$(PY) -m pytest

bench: install print-libs
	$(PY) bench/run.py

lint: install
	$(VENV)/bin/ruff format --check webapp tests bench
	$(VENV)/bin/ruff check webapp tests bench

# pdftoppm (poppler-utils) turns page one of each sample PDF into a picture for the README.
screenshots: install chromium print-libs
	@command -v pdftoppm >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq poppler-utils >/dev/null; }
	$(PY) docs/take_screenshots.py

clean:
	rm -rf $(VENV) instance .pytest_cache .cache
