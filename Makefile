# Everything a fresh machine with Python 3.11, make and git needs: uv is bootstrapped into
# .bootstrap/, the locked environment into .venv/, stubs are generated from protos/.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.8
BOOT := .bootstrap
UV := $(BOOT)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STUBS := libs/contracts/src/o2o/.generated
PROTO_FILES := $(shell find protos -name '*.proto')
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help setup browser protos lint test test-sqlite test-postgres up seed bench clean

help:
	@echo "make up      run the platform locally (NATS + every service, embedded SQLite)"
	@echo "make seed    load a small demo chain into the running platform"
	@echo "make test    lint, type-check and run the whole suite on SQLite and PostgreSQL (and the"
	@echo "             console in chromium, installed from Debian's packages when missing)"
	@echo "make bench   run the benchmarks; results land in bench/results/"
	@echo "make protos  regenerate the Python stubs from protos/"

$(UV):
	$(PYTHON) -m venv $(BOOT)
	$(BOOT)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml gateway/pyproject.toml)
	$(UV) sync --all-packages --frozen --python $(PYTHON)
	@touch $@

$(STUBS): $(VENV)/.synced $(PROTO_FILES) tools/gen_protos.py
	$(BIN)/python tools/gen_protos.py
	@touch $@

setup: $(STUBS)

# The browser tests drive Debian's chromium with Playwright (pinned in the lock; it downloads no
# browser), with CJK fonts so that the Chinese pages' screenshots are legible. A fresh machine
# gets both from Debian's packages, as root (CI) or through sudo.
CHROMIUM ?= /usr/bin/chromium
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
browser: $(CHROMIUM) $(CJK_FONT)

$(CHROMIUM) $(CJK_FONT):
	@echo "installing chromium and fonts-noto-cjk from Debian's packages for the browser tests"
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk

protos:
	rm -f $(STUBS)
	$(MAKE) $(STUBS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/buf lint
	@if git rev-parse --verify -q main >/dev/null && git ls-tree -r --name-only main | grep -q '^protos/.*\.proto$$'; then \
		echo "buf breaking against main"; $(BIN)/buf breaking --against '.git#branch=main'; \
	else echo "buf breaking: main has no protos yet"; fi

test: lint browser
	$(BIN)/python -m pytest -q

up: setup
	$(BIN)/o2o up

seed: setup
	$(BIN)/o2o seed

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(BOOT) data .pytest_cache .mypy_cache .ruff_cache
