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

.PHONY: all tools venv lifecycle pack queue-proxy user buildpack package lock run test bench clean

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

# pack, pinned in tools/pack/go.mod: a wrapper module, because pack's go.mod has a replace.
pack: $(BIN)/pack
$(BIN)/pack: tools/pack/go.mod tools/pack/go.sum
	mkdir -p $(BIN)
	cd tools/pack && CGO_ENABLED=0 $(GO) build -o $(CURDIR)/$(BIN)/pack github.com/buildpacks/pack

# Knative Serving's queue-proxy, pinned in tools/queue-proxy/go.mod (tests/test_knative_queue_proxy.py).
queue-proxy: $(BIN)/queue
$(BIN)/queue: tools/queue-proxy/go.mod tools/queue-proxy/go.sum
	mkdir -p $(BIN)
	cd tools/queue-proxy && CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(CURDIR)/$(BIN)/queue knative.dev/serving/cmd/queue

# detector and builder refuse uid 0: as root, the phases run as an unprivileged user.
user:
	@if [ "$$(id -u)" = 0 ] && ! id -u $(TEST_USER) >/dev/null 2>&1; then useradd --create-home $(TEST_USER); fi

buildpack: venv
	$(VENV)/bin/python tools/assemble.py $(BUILDPACK) $(if $(OFFLINE),--offline)

# buildpack/invoker.lock: the invoker's dependencies, exact versions and wheel hashes for
# CPython 3.10-3.13 on linux amd64 and arm64 (tools/lock.py). Run after changing invoker/pyproject.toml.
lock: venv
	$(VENV)/bin/python tools/lock.py buildpack/invoker.lock

# The buildpack as a .cnb file (OCI layout), made without a Docker daemon.
# OFFLINE=1 embeds a wheelhouse of the invoker's dependencies (CPython 3.10-3.13, amd64 and arm64).
VERSION := $(shell sed -n 's/^  version = "\(.*\)"/\1/p' buildpack.toml)
CNB := build/pyfunc-python-function-$(VERSION).cnb
package: pack buildpack
	rm -f $(CNB)
	$(BIN)/pack buildpack package $(CNB) --config package.toml --format file --target linux/amd64
	@echo "packaged $(CNB)"

run: tools buildpack
	$(VENV)/bin/python tools/run.py $(APP) $(PORT)

test: tools package queue-proxy
	$(VENV)/bin/python -m pytest -q tests

# Measurements outside the tests (BENCHMARKS.md); wrk comes from Debian's packages.
bench: tools buildpack queue-proxy
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(VENV)/bin/python tools/bench.py

clean:
	rm -rf build $(TOOLS) invoker/*.egg-info
