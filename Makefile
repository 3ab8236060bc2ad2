# The two commands: `make lab` starts the lab, `make test` runs every test.
# Both create .venv and install what they need on a fresh machine (Python 3.11+, git, make).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
.PHONY: lab test browser proxy lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "sts-labkit needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# JupyterLab on your copy of the notebooks (my-notebooks/); PORT=8899 make lab for another port.
lab: $(STAMP)
	$(BIN)/labkit lab $(if $(PORT),--port $(PORT))

test: $(STAMP) browser proxy
	$(BIN)/python -m pytest

# The browser test drives JupyterLab in Debian's Chromium (Playwright cannot download browsers here).
browser:
	@command -v chromium >/dev/null 2>&1 || scripts/install-chromium

# The JupyterHub test runs the hub's proxy, configurable-http-proxy from npm (into .venv/node).
proxy:
	@scripts/install-configurable-http-proxy $(VENV)/node

lint: $(STAMP)
	$(BIN)/ruff check labkit tests bench

bench: $(STAMP)
	$(BIN)/python bench/sandbox.py

clean:
	rm -rf $(VENV) test-artifacts .pytest_cache
