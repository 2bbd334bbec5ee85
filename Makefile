# Switchyard: `make run` starts the gateway on the built-in example seed; `make test` runs every test.
SHELL := /bin/bash
SWIFT ?= swift
BUILD_DIR := .build
VENV := $(BUILD_DIR)/venv
PYTHON := $(VENV)/bin/python
DEBUG_BIN := $(BUILD_DIR)/debug/switchyard
RELEASE_BIN := $(BUILD_DIR)/release/switchyard
E2E_PACKAGES := openai pytest httpx

.PHONY: all deps build release run test test-swift test-e2e lint format bench clean

all: build

# The one system package the product needs: SQLite's headers and library, linked by GRDB.
deps:
	@if ! dpkg -s libsqlite3-dev >/dev/null 2>&1; then \
		echo "installing libsqlite3-dev"; \
		apt-get install -y libsqlite3-dev >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y libsqlite3-dev; }; \
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

$(PYTHON):
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check $(E2E_PACKAGES)

# End-to-end: the built debug binary, a real SQLite file and seed, driven by the official openai SDK.
test-e2e: deps $(PYTHON)
	$(SWIFT) build --product switchyard
	SWITCHYARD_BIN=$(DEBUG_BIN) $(PYTHON) -m pytest -q Tests/e2e

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

# Throughput and latency against nginx on the same machine; see bench/bench.sh.
bench: release
	SWITCHYARD_BIN=$(RELEASE_BIN) bench/bench.sh

clean:
	rm -rf $(BUILD_DIR)
