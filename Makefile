# flashcall: `make run` starts the whole platform, `make test` runs the whole suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help run test lint bench setup clean system-packages

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The panel's chart library and Persian font come from the npm registry at build time, pinned;
# they are served by the app itself (no CDN at run time) and not committed.
VENDOR := api/panel/static/vendor
VENDORED := $(VENDOR)/chartist.umd.js $(VENDOR)/Vazirmatn-Regular.woff2
CHARTIST := chartist@1.5.0
VAZIRMATN := vazirmatn@33.0.3

$(VENDORED): Makefile
	@command -v npm >/dev/null || { echo "npm is needed to fetch the panel's chart and font" >&2; exit 1; }
	rm -rf var/npm && mkdir -p var/npm $(VENDOR)
	cd var/npm && npm pack --silent $(CHARTIST) $(VAZIRMATN) >/dev/null
	tar -xzf var/npm/chartist-*.tgz -C var/npm
	cp var/npm/package/dist/index.umd.js $(VENDOR)/chartist.umd.js
	cp var/npm/package/dist/index.css $(VENDOR)/chartist.css
	cp var/npm/package/LICENSE-MIT $(VENDOR)/chartist.LICENSE
	rm -rf var/npm/package && tar -xzf var/npm/vazirmatn-*.tgz -C var/npm
	cp var/npm/package/fonts/webfonts/Vazirmatn-Regular.woff2 var/npm/package/fonts/webfonts/Vazirmatn-Bold.woff2 $(VENDOR)/
	cp var/npm/package/OFL.txt $(VENDOR)/Vazirmatn.LICENSE
	rm -rf var/npm

# Debian packages the browser and SIP tests drive (as root with apt, installed when missing).
system-packages: ## install chromium and sipp (sip-tester) when missing
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v sipp >/dev/null || missing="$$missing sip-tester"; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "the tests need these Debian packages:$$missing" >&2; exit 1; fi; \
	fi

setup: $(STAMP) $(VENDORED) ## create .venv, install the project with its dev tools, fetch panel assets

run: $(STAMP) $(VENDORED) ## start broker, database, processors and API on embedded defaults
	$(PY) -m launch.run

test: $(STAMP) $(VENDORED) system-packages ## unit, integration and e2e tests against the real broker and database
	$(PY) -m pytest

lint: $(STAMP) ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(STAMP) ## print the platform's throughput and latency figures
	$(PY) -m bench

clean: ## remove run data
	rm -rf var
