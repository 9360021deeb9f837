# pyfunc: the Python function buildpack and its invoker.
#   make run   build APP (default samples/http) through the real CNB lifecycle and serve it on PORT
#   make test  everything the tests need, then the tests
SHELL := /bin/bash
PYTHON ?= python3
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
APP ?= samples/http
PORT ?= 8080
TOOLS := .tools
VENV := $(TOOLS)/venv
BIN := $(TOOLS)/bin
BUILDPACK := build/buildpack
TEST_USER ?= cnb

.PHONY: all tools venv lifecycle user buildpack run test bench clean

all: test

tools: venv lifecycle user

venv: $(VENV)/.installed
$(VENV)/.installed: tests/requirements.txt invoker/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt -e ./invoker
	touch $@

# The real CNB lifecycle, pinned in tools/lifecycle/go.mod, built from the Go module proxy.
lifecycle: $(BIN)/lifecycle
$(BIN)/lifecycle: tools/lifecycle/go.mod tools/lifecycle/go.sum
	mkdir -p $(BIN)
	cd tools/lifecycle && CGO_ENABLED=0 $(GO) build -o $(CURDIR)/$(BIN)/ \
	  github.com/buildpacks/lifecycle/cmd/lifecycle github.com/buildpacks/lifecycle/cmd/launcher

# detector and builder refuse uid 0: as root, the phases run as an unprivileged user.
user:
	@if [ "$$(id -u)" = 0 ] && ! id -u $(TEST_USER) >/dev/null 2>&1; then useradd --create-home $(TEST_USER); fi

buildpack: venv
	$(VENV)/bin/python tools/assemble.py $(BUILDPACK)

run: tools buildpack
	$(VENV)/bin/python tools/run.py $(APP) $(PORT)

test: tools buildpack
	$(VENV)/bin/python -m pytest -q tests

# Measurements outside the tests (BENCHMARKS.md); wrk comes from Debian's packages.
bench: tools buildpack
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(VENV)/bin/python tools/bench.py

clean:
	rm -rf build $(TOOLS) invoker/*.egg-info
