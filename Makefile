# Plenary: the two commands are `make up` and `make test`. Everything they need is installed by them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
RUN := $(UV) run --frozen
PYTEST_ARGS ?=

.PHONY: help bootstrap infra up down status demo test unit integration e2e lint typecheck contracts bench clean

help:
	@echo "make up      install what is missing, start Kafka, FerretDB and every service, load the WSIS 2020 demo"
	@echo "make down    stop everything make up started"
	@echo "make test    install what is missing, then ruff, mypy and the whole test suite"
	@echo "make bench   run the benchmarks in bench/ (needs nothing running)"

bootstrap:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is missing: install python3.11 (apt-get install python3.11) and retry."; exit 1; }
	@[ -x "$(UV)" ] || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --frozen --python $(PYTHON) --quiet

infra: bootstrap
	@$(RUN) plenary stack install

up: bootstrap
	@$(RUN) plenary stack up
	@$(RUN) plenary-demo load --gateway http://127.0.0.1:8000
	@echo
	@echo "Plenary is up: open http://127.0.0.1:8000/"

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

clean: down
	rm -rf .plenary
