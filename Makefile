# flashcall: `make run` starts the whole platform, `make test` runs the whole suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help run test lint bench chaos mutation release-schemas setup clean system-packages balancer-package lock

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# Everything from the lock (requirements/, hashes checked), then the project and the client
# themselves without resolving again: two setups install the same versions.
$(STAMP): requirements/dev.txt pyproject.toml client/pyproject.toml
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --require-hashes -r requirements/dev.txt
	$(PY) -m pip install -q --no-deps -e . -e ./client
	touch $(STAMP)

# The lock (docs/dependencies.md): runtime.txt is what the image installs, dev.txt adds the
# embedded broker and database, the test tools and the client. Run after changing a dependency
# in a pyproject.toml; UPGRADE=1 moves every indirect dependency to its newest allowed version.
lock: $(STAMP) ## write requirements/*.txt again from the pyproject files
	$(VENV)/bin/uv pip compile -q --universal --python-version 3.11 --generate-hashes \
	  $(if $(UPGRADE),--upgrade) pyproject.toml -o requirements/runtime.txt
	$(VENV)/bin/uv pip compile -q --universal --python-version 3.11 --generate-hashes \
	  $(if $(UPGRADE),--upgrade) --extra local --extra dev -c requirements/runtime.txt \
	  pyproject.toml client/pyproject.toml -o requirements/dev.txt

# Browser assets the app serves itself (no CDN at run time), fetched from the npm registry at
# build time, pinned by version and sha512 in launch/fetch_assets.py; not committed: the
# panel's chart library, date picker and font, and Swagger UI for /docs.
VENDOR := api/panel/static/vendor
DOCS_VENDOR := api/docs_assets/vendor
VENDORED := $(VENDOR)/chartist.umd.js $(VENDOR)/Vazirmatn-Regular.woff2 $(VENDOR)/jalalidatepicker.js \
	$(DOCS_VENDOR)/swagger-ui-bundle.js

$(VENDORED) &: launch/fetch_assets.py
	python3 launch/fetch_assets.py panel $(VENDOR)
	python3 launch/fetch_assets.py docs $(DOCS_VENDOR)

# axe-core, for the browser tests' accessibility check (tests/browser/accessibility.py).
AXE := var/test-assets/axe.min.js

$(AXE): launch/fetch_assets.py
	python3 launch/fetch_assets.py test $(dir $(AXE))

# Debian packages the browser and SIP tests drive (as root with apt, installed when missing).
system-packages: ## install chromium, sipp (sip-tester), kamailio (with TLS), kannel (with its fake SMSC), dnsmasq, haproxy, jq and promtool when missing
	@missing=""; \
	command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || missing="$$missing haproxy"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v sipp >/dev/null || missing="$$missing sip-tester"; \
	command -v kamailio >/dev/null || missing="$$missing kamailio"; \
	test -e /usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so || missing="$$missing kamailio-tls-modules"; \
	command -v dnsmasq >/dev/null || test -x /usr/sbin/dnsmasq || missing="$$missing dnsmasq-base"; \
	command -v jq >/dev/null || missing="$$missing jq"; \
	test -x /usr/sbin/bearerbox || missing="$$missing kannel"; \
	test -x /usr/lib/kannel/test/fakesmsc || missing="$$missing kannel-extras"; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "the tests need these Debian packages:$$missing" >&2; exit 1; fi; \
	fi
	@# promtool checks the alert rules; prometheus's recommends would add a node exporter.
	@command -v promtool >/dev/null || { \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; \
	  else echo "the tests need Debian's prometheus package (promtool)" >&2; exit 1; fi; }

setup: $(STAMP) $(VENDORED) ## create .venv, install the project with its dev tools, fetch panel assets

# FLASHCALL_REPLICAS with several APIs puts HAProxy in front of them: installed when missing.
balancer-package:
	@case "$$FLASHCALL_REPLICAS" in *api=[2-9]*|*api=1[0-9]*) \
	  command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || { \
	    if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy; \
	    else echo "FLASHCALL_REPLICAS with several APIs needs Debian's haproxy" >&2; exit 1; fi; };; \
	esac

run: $(STAMP) $(VENDORED) balancer-package ## start broker, database, processors and API on embedded defaults
	$(PY) -m launch.run

test: $(STAMP) $(VENDORED) $(AXE) system-packages ## unit, integration and e2e tests against the real broker and database
	$(PY) -m pytest

lint: $(STAMP) ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(STAMP) ## print the platform's throughput and latency figures
	$(PY) -m bench

# Mutation testing has its own environment: mutmut needs a newer click than faust allows. The
# project itself is not installed there, so the tests import the mutated copy in mutants/.
MUTATION_VENV := .venv-mutation
MUTATION_STAMP := $(MUTATION_VENV)/.installed

$(MUTATION_STAMP): pyproject.toml client/pyproject.toml
	test -x $(MUTATION_VENV)/bin/python || python3.11 -m venv $(MUTATION_VENV) || python3 -m venv $(MUTATION_VENV)
	$(MUTATION_VENV)/bin/pip install -q --require-hashes -r requirements/dev.txt
	$(MUTATION_VENV)/bin/pip install -q --no-deps -e . -e ./client
	$(MUTATION_VENV)/bin/pip install -q 'mutmut==3.8.1' 2>&1 | grep -v "dependency resolver\|faust-streaming" || true
	test -x $(MUTATION_VENV)/bin/mutmut
	$(MUTATION_VENV)/bin/pip uninstall -q -y flashcall
	touch $(MUTATION_STAMP)

mutation: $(MUTATION_STAMP) ## mutation testing of the rule-bearing modules with the fast tests (docs/testing.md)
	rm -rf mutants
	$(MUTATION_VENV)/bin/mutmut run --max-children $$(nproc)
	$(MUTATION_VENV)/bin/python -m tests.mutation_report

chaos: $(STAMP) ## faults under load (kill -9, PostgreSQL or the broker away, poison records): what each costs
	$(PY) -m bench.chaos

release-schemas: $(STAMP) ## release the event schemas changed since the last release (checked for compatibility)
	$(PY) -m schemas.release

clean: ## remove run data
	rm -rf var
