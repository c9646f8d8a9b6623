# Plenary: the two commands are `make up` and `make test`. Everything they need is installed by them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
# uv: the one on PATH, else the copy `make bootstrap` installs into the checkout (git-ignored), so the path is known
# before it exists whatever the Python layout (pyenv, Debian's python3.11, a venv)
UV_HOME := $(CURDIR)/.plenary/tools/uv
UV := $(shell command -v uv 2>/dev/null || echo "$(UV_HOME)/bin/uv")
# uv trusts the machine's certificate store, as pip and curl here do (its bundled roots miss a proxy's CA):
# UV_SYSTEM_CERTS for uv 0.13+, UV_NATIVE_TLS for older ones
export UV_SYSTEM_CERTS ?= 1
export UV_NATIVE_TLS ?= 1
RUN := $(UV) run --frozen
PYTEST_ARGS ?=

.PHONY: help bootstrap install-uv infra up down status demo test unit integration e2e lint typecheck contracts openapi bench clean

help:
	@echo "make up      install what is missing, start Kafka, the document store and every service, load the WSIS 2020 demo"
	@echo "make down    stop everything make up started"
	@echo "make test    install what is missing, then ruff, mypy and the whole test suite"
	@echo "make bench   run the benchmarks in bench/ (needs nothing running)"

bootstrap:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is missing: install python3.11 (apt-get install python3.11) and retry."; exit 1; }
	@[ -x "$(UV)" ] || $(MAKE) --no-print-directory install-uv
	@$(UV) sync --frozen --python $(PYTHON) --quiet

install-uv:
	@echo "Installing uv into $(UV_HOME) ..."
	@$(PYTHON) -m pip --version >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null; } \
	  || { echo "pip is missing for $(PYTHON): install python3-pip (apt-get install python3-pip) and retry."; exit 1; }
	@rm -rf "$(UV_HOME)" && $(PYTHON) -m pip install --quiet --disable-pip-version-check --no-warn-script-location --root-user-action=ignore \
	  --target "$(UV_HOME)" "uv>=0.5,<1"
	@[ -x "$(UV_HOME)/bin/uv" ] || { echo "uv was not installed into $(UV_HOME)/bin; install uv by hand and retry."; exit 1; }

infra: bootstrap
	@$(RUN) plenary stack install

up: bootstrap
	@$(RUN) plenary stack up
	@$(RUN) plenary-demo load --gateway http://127.0.0.1:8000
	@echo "Open http://127.0.0.1:8000/ (logs: .plenary/logs/; what runs: uv run plenary stack status; stop: make down)"

down:
	@[ -x "$(UV)" ] && $(RUN) plenary stack down || true

status: bootstrap
	@$(RUN) plenary stack status

demo: bootstrap
	@$(RUN) plenary-demo load --gateway http://127.0.0.1:8000

lint: bootstrap
	@$(RUN) ruff check .

typecheck: bootstrap
	@$(RUN) mypy libs/plenary_kit/plenary_kit libs/plenary_events/plenary_events services/*/[a-z]*/ tools/demo/plenary_demo web/plenary_web

contracts: bootstrap
	@$(RUN) python -m plenary_events.export

# the gateway's public OpenAPI document, generated from the services' apps (tests fail when it is stale)
openapi: bootstrap
	@$(RUN) python -m gateway.contract

test: bootstrap lint typecheck infra
	@$(RUN) pytest $(PYTEST_ARGS)

unit: bootstrap
	@$(RUN) pytest tests/unit $(PYTEST_ARGS)

integration: infra
	@$(RUN) pytest tests/integration $(PYTEST_ARGS)

e2e: infra
	@$(RUN) pytest tests/e2e $(PYTEST_ARGS)

bench: infra
	@$(RUN) python -m bench

clean:
	@[ -x "$(UV)" ] && [ -d .venv ] && $(RUN) plenary stack down --remove-data || true
	rm -rf .plenary
