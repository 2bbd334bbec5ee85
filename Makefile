# Switchyard: `make run` starts the gateway on the built-in example seed; `make test` runs every test.
SHELL := /bin/bash
SWIFT ?= swift
BUILD_DIR := .build
VENV := $(BUILD_DIR)/venv
PYTHON := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBUG_BIN := $(BUILD_DIR)/debug/switchyard
RELEASE_BIN := $(BUILD_DIR)/release/switchyard
E2E_PACKAGES := openai pytest httpx selenium jsonschema openapi-spec-validator schemathesis
# The stamp names the package list, so a changed list installs again.
VENV_READY := $(VENV)/.installed-$(shell echo "$(E2E_PACKAGES)" | md5sum | cut -c1-8)

.PHONY: all deps browser-deps build release run test test-swift test-e2e lint format bench bench-gateway clean

all: build

# The one system package the product needs: SQLite's headers and library, linked by GRDB.
deps:
	@if ! dpkg -s libsqlite3-dev >/dev/null 2>&1; then \
		echo "installing libsqlite3-dev"; \
		$(SUDO) apt-get install -y libsqlite3-dev >/dev/null 2>&1 || { $(SUDO) apt-get update >/dev/null && $(SUDO) apt-get install -y libsqlite3-dev; }; \
	fi

# Chromium and its driver, for the admin page's browser tests (Tests/e2e/test_admin_page.py).
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		echo "installing chromium chromium-driver"; \
		$(SUDO) apt-get install -y chromium chromium-driver >/dev/null 2>&1 || { $(SUDO) apt-get update >/dev/null && $(SUDO) apt-get install -y chromium chromium-driver; }; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

run: build
	$(DEBUG_BIN) serve $(if $(CONFIG),--config $(CONFIG))

test: test-swift test-e2e

test-swift: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# Test-only Python tools, in a virtualenv under the build folder; the stamp marks a complete install.
$(VENV_READY):
	rm -rf $(VENV)
	python3 -m venv $(VENV) || { rm -rf $(VENV); $(SUDO) apt-get install -y python3-venv && python3 -m venv $(VENV); }
	$(PYTHON) -m pip install --quiet --disable-pip-version-check $(E2E_PACKAGES)
	touch $@

# End-to-end: the built debug binary, a real SQLite file and seed, driven by the official openai SDK.
test-e2e: deps browser-deps $(VENV_READY)
	$(SWIFT) build --product switchyard
	SWITCHYARD_BIN=$(DEBUG_BIN) $(PYTHON) -m pytest -q Tests/e2e

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

# The request path against nginx on the same machine, one table (bench/bench.sh: added latency at
# 1 connection, throughput at saturation, CPU and callgrind instructions per request, 256 paced
# streams through switchyard-load, memory), the cost of a
# failover and a backend's recovery timeline (bench/failover.py), and release timing: rollback
# effect time and how long a bad canary lives at the default analysis (bench/release_timing.py);
# the time from saving the seed file to the change serving (bench/reload_timing.py); per-request
# costs of routing features and experiment results over a million requests (switchyard-bench).
bench: release $(VENV_READY)
	SWITCHYARD_BIN=$(RELEASE_BIN) bench/bench.sh
	SWITCHYARD_BIN=$(RELEASE_BIN) $(PYTHON) bench/failover.py | tee $(BUILD_DIR)/bench/failover.md
	SWITCHYARD_BIN=$(RELEASE_BIN) $(PYTHON) bench/release_timing.py | tee $(BUILD_DIR)/bench/release_timing.md
	SWITCHYARD_BIN=$(RELEASE_BIN) $(PYTHON) bench/reload_timing.py | tee $(BUILD_DIR)/bench/reload_timing.md
	$(BUILD_DIR)/release/switchyard-bench | tee $(BUILD_DIR)/bench/micro.md

# Only the request path's table (bench/bench.sh), for comparing a change before and after.
bench-gateway: release
	SWITCHYARD_BIN=$(RELEASE_BIN) bench/bench.sh

clean:
	rm -rf $(BUILD_DIR)
