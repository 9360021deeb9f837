# pyfunc: the Python function buildpack and its invoker.
#   make run   build APP (default samples/http) into an image with pack and serve it on 127.0.0.1:PORT
#   make test  everything the tests need, then the tests
#   make help  every target
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

ENGINE := PYTHONPATH=tools $(VENV)/bin/python -m engine

.PHONY: all help tools venv ff-venv lifecycle pack queue-proxy func user buildpack package lock publish engine engine-down run run-host test bench clean

all: test

help:
	@echo "make run        build APP (default $(APP)) into an image with pack and docker run it on 127.0.0.1:PORT ($(PORT));"
	@echo "                set build settings on the command line: make run APP=dir BP_FUNCTION=module.function"
	@echo "make run-host   the same through the CNB lifecycle on the host, no container engine"
	@echo "make test       install everything the tests need (engine included, as root), then run every test"
	@echo "make tools      virtualenv, CNB lifecycle (go build) and the cnb user in .tools/"
	@echo "make package    build/pyfunc-python-function-<version>.cnb (OFFLINE=1 adds a wheelhouse)"
	@echo "make publish    the buildpackage for linux/amd64 and linux/arm64 (an image index) pushed to the"
	@echo "                engine's registry, or to PYFUNC_BUILDPACKAGE=registry/name:tag"
	@echo "make func       Knative's func CLI v0.49.2 (go build) in .tools/bin, for the func tests"
	@echo "make engine     install Debian's docker.io, start dockerd and a registry for this checkout, make the builder"
	@echo "make engine-down stop them"
	@echo "make bench      measurements for BENCHMARKS.md (not part of the tests); BENCH_ARGS='--only image' reruns a part"
	@echo "make clean      stop the engine, remove build/ and .tools/ (engine data and images included)"

tools: venv ff-venv lifecycle user

venv: $(VENV)/.installed
$(VENV)/.installed: tests/requirements.txt invoker/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt -e ./invoker
	touch $@

# functions-framework 3.10.2 in its own venv, for the differential tests (tests/ffdiff.py);
# its Flask, Werkzeug, Starlette and cloudevents pinned to the versions pyfunc's venv has.
FF_VENV := $(TOOLS)/ff-venv
ff-venv: $(FF_VENV)/.installed
$(FF_VENV)/.installed: $(VENV)/.installed
	$(PYTHON) -m venv $(FF_VENV)
	$(VENV)/bin/pip freeze --exclude-editable --disable-pip-version-check > $(FF_VENV)/constraints.txt
	$(FF_VENV)/bin/pip install --quiet --disable-pip-version-check -c $(FF_VENV)/constraints.txt functions-framework==3.10.2
	touch $@

# The real CNB lifecycle, pinned in tools/lifecycle/go.mod, built from the Go module proxy.
lifecycle: $(BIN)/lifecycle
$(BIN)/lifecycle: tools/lifecycle/go.mod tools/lifecycle/go.sum
	mkdir -p $(BIN)
	cd tools/lifecycle && CGO_ENABLED=0 $(GO) build -o $(CURDIR)/$(BIN)/ \
	  github.com/buildpacks/lifecycle/cmd/lifecycle github.com/buildpacks/lifecycle/cmd/launcher

# pack, pinned in tools/pack/go.mod: a wrapper module, because pack's go.mod has a replace; with it
# builderconfig, pack's own builder.toml reader and validator (tests/test_builder_toml.py).
pack: $(BIN)/pack
$(BIN)/pack: tools/pack/go.mod tools/pack/go.sum tools/pack/builderconfig/main.go
	mkdir -p $(BIN)
	cd tools/pack && CGO_ENABLED=0 $(GO) build -o $(CURDIR)/$(BIN)/ github.com/buildpacks/pack ./builderconfig

# Knative Serving's queue-proxy, pinned in tools/queue-proxy/go.mod (tests/test_knative_queue_proxy.py).
queue-proxy: $(BIN)/queue
$(BIN)/queue: tools/queue-proxy/go.mod tools/queue-proxy/go.sum
	mkdir -p $(BIN)
	cd tools/queue-proxy && CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(CURDIR)/$(BIN)/queue knative.dev/serving/cmd/queue

# Knative's func CLI, pinned in tools/func/go.mod (tests/test_func_cli.py): v0.49.2, the newest
# release whose dependencies the Go module proxy serves. Cold compile ~4.5 min of CPU (16 min on a
# loaded 2-core machine), a 94 MB binary; Go's caches: ~1.4 GB of module sources, ~1.3 GB of builds.
func: $(BIN)/func
$(BIN)/func: tools/func/go.mod tools/func/go.sum
	mkdir -p $(BIN)
	cd tools/func && CGO_ENABLED=0 $(GO) build -trimpath \
	  -ldflags='-s -w -X knative.dev/func/pkg/version.Vers=v0.49.2' -o $(CURDIR)/$(BIN)/func knative.dev/func/cmd/func

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
	@if [ ! -f $(CNB) ] || [ $(BUILDPACK).inputs -nt $(CNB) ]; then \
	  rm -f $(CNB) && $(BIN)/pack buildpack package $(CNB) --config package.toml --format file --target linux/amd64 \
	  && echo "packaged $(CNB)"; else echo "$(CNB) is up to date"; fi

# The buildpackage for buildpack.toml's [[targets]] (linux/amd64, linux/arm64): one image each and an
# OCI image index, pushed with pack to the engine's registry (or PYFUNC_BUILDPACKAGE=registry/name:tag).
publish: venv pack buildpack
	$(ENGINE) publish

# Debian's dockerd and docker-registry for this checkout (.tools/engine/), the stack images and the builder.
engine: tools package
	$(ENGINE) up

engine-down:
	@if [ -x $(VENV)/bin/python ]; then $(ENGINE) down; fi

run: tools package
	@exec $(VENV)/bin/python tools/run.py $(APP) $(PORT)

run-host: tools buildpack
	@exec $(VENV)/bin/python tools/run.py $(APP) $(PORT) --host

test: tools package queue-proxy func
	$(VENV)/bin/python -m pytest -q --durations=15 tests

# Measurements outside the tests (BENCHMARKS.md); wrk and h2load (nghttp2-client) come from Debian's packages.
bench: tools buildpack package queue-proxy
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	@command -v h2load >/dev/null || (apt-get update -qq && apt-get install -y -qq nghttp2-client)
	PYTHONPATH=tools $(VENV)/bin/python -m bench $(BENCH_ARGS)

clean: engine-down
	rm -rf build $(TOOLS) invoker/*.egg-info
