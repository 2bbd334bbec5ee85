# Switchyard: `make run` starts the gateway on the built-in example seed; `make test` runs every test.
SHELL := /bin/bash
SWIFT ?= swift
BUILD_DIR := .build
VENV := $(BUILD_DIR)/venv
PYTHON := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBUG_BIN := $(BUILD_DIR)/debug/switchyard
RELEASE_BIN := $(BUILD_DIR)/release/switchyard
# Release builds leave out Swift's run-time exclusivity checks (in every module, dependencies too):
# they cost about a tenth of a proxied request's instructions (docs/performance.md). Debug builds,
# which the tests run, keep them, so a conflicting access still traps there.
RELEASE := -c release -Xswiftc -enforce-exclusivity=unchecked
E2E_PACKAGES := openai anthropic pytest httpx selenium jsonschema openapi-spec-validator schemathesis opentelemetry-proto
# The stamp names the package list, so a changed list installs again.
VENV_READY := $(VENV)/.installed-$(shell echo "$(E2E_PACKAGES)" | md5sum | cut -c1-8)

.PHONY: all deps postgres-deps browser-deps build release run test test-swift test-e2e lint format bench bench-gateway clean dist deb test-dist test-monitoring soak fuzz bench-clients

all: build

# The one system package the product needs: SQLite's headers and library, linked by GRDB.
deps:
	@if ! dpkg -s libsqlite3-dev >/dev/null 2>&1; then \
		echo "installing libsqlite3-dev"; \
		$(SUDO) apt-get install -y libsqlite3-dev >/dev/null 2>&1 || { $(SUDO) apt-get update >/dev/null && $(SUDO) apt-get install -y libsqlite3-dev; }; \
	fi

# PostgreSQL's server binaries, for the tests of several instances on one database: they start a
# throwaway server of their own (initdb in a temporary folder, as an unprivileged user).
postgres-deps:
	@if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "installing postgresql"; \
		$(SUDO) apt-get install -y postgresql >/dev/null 2>&1 || { $(SUDO) apt-get update >/dev/null && $(SUDO) apt-get install -y postgresql; }; \
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
	$(SWIFT) build $(RELEASE)

run: build
	$(DEBUG_BIN) serve $(if $(CONFIG),--config $(CONFIG))

test: test-swift test-e2e

test-swift: deps postgres-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# Test-only Python tools, in a virtualenv under the build folder; the stamp marks a complete install.
$(VENV_READY):
	rm -rf $(VENV)
	python3 -m venv $(VENV) || { rm -rf $(VENV); $(SUDO) apt-get install -y python3-venv && python3 -m venv $(VENV); }
	$(PYTHON) -m pip install --quiet --disable-pip-version-check $(E2E_PACKAGES)
	touch $@

# End-to-end: the built debug binary, a real SQLite file (or PostgreSQL database) and seed, driven by the official openai SDK.
test-e2e: deps postgres-deps browser-deps $(VENV_READY)
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
# costs of routing features and experiment results over a million requests (switchyard-bench); the
# time a split change on one of three instances on PostgreSQL takes to route on another (p50/p99
# over 100 changes, .build/bench/propagation.md; p99 must stay within 100 ms); the request path's
# latency on SQLite and on PostgreSQL, without and with a per-user request limit (bench/store_modes.py).
bench: release $(VENV_READY)
	SWITCHYARD_BIN=$(RELEASE_BIN) bench/bench.sh
	SWITCHYARD_BIN=$(RELEASE_BIN) $(PYTHON) bench/failover.py | tee $(BUILD_DIR)/bench/failover.md
	SWITCHYARD_BIN=$(RELEASE_BIN) $(PYTHON) bench/release_timing.py | tee $(BUILD_DIR)/bench/release_timing.md
	SWITCHYARD_BIN=$(RELEASE_BIN) $(PYTHON) bench/reload_timing.py | tee $(BUILD_DIR)/bench/reload_timing.md
	$(BUILD_DIR)/release/switchyard-bench | tee $(BUILD_DIR)/bench/micro.md
	SWITCHYARD_BIN=$(RELEASE_BIN) SWITCHYARD_PROPAGATION_P99_MS=100 $(PYTHON) -m pytest -q -s Tests/e2e/test_scale_out.py -k split_changed
	SWITCHYARD_BIN=$(RELEASE_BIN) LOAD_BIN=$(BUILD_DIR)/release/switchyard-load $(PYTHON) bench/store_modes.py | tee $(BUILD_DIR)/bench/store_modes.md

# Only the request path's table (bench/bench.sh), for comparing a change before and after.
bench-gateway: release
	SWITCHYARD_BIN=$(RELEASE_BIN) bench/bench.sh

# Release artefacts: dist/switchyard (static Swift runtime, stripped, stamped with the git commit),
# the Debian package, and their tests (docs/operations.md: Running on a VM).
VERSION := $(shell sed -n 's/.*static let current = "\(.*\)"/\1/p' Sources/SwitchyardCore/Version.swift)
DIST_SCRATCH := .build-dist
DEB := dist/switchyard_$(VERSION)_$(shell dpkg --print-architecture).deb
PROMTOOL := $(DIST_SCRATCH)/tools/usr/bin/promtool
# One Swift build at a time: two at once on a 2-core machine thrash each other. LOCK= skips it.
LOCK ?= flock /tmp/swift-build.lock

# Its own scratch folder: switching --static-swift-stdlib on and off in one folder rebuilds all.
# The commit is written into the stripped copy after linking (packaging/stamp-commit explains
# why), so the build reads exactly the committed sources and leaves the tree clean.
dist: deps
	$(LOCK) $(SWIFT) build $(RELEASE) --product switchyard --static-swift-stdlib --scratch-path $(DIST_SCRATCH)
	mkdir -p dist
	strip --strip-all -o dist/switchyard.tmp $(DIST_SCRATCH)/release/switchyard
	packaging/stamp-commit dist/switchyard.tmp
	mv dist/switchyard.tmp dist/switchyard
	@echo "dist/switchyard: $$(stat -c %s dist/switchyard) bytes; $$(dist/switchyard version)"

deb: dist
	packaging/build-deb dist/switchyard dist

# promtool from Debian's prometheus package, unpacked into the scratch folder (installing the
# package would start a Prometheus server).
$(PROMTOOL):
	rm -rf $(DIST_SCRATCH)/tools && mkdir -p $(DIST_SCRATCH)/tools/deb
	cd $(DIST_SCRATCH)/tools/deb && { apt-get download prometheus 2>/dev/null || { $(SUDO) apt-get update >/dev/null && apt-get download prometheus; }; }
	dpkg-deb -x $(DIST_SCRATCH)/tools/deb/prometheus_*.deb $(DIST_SCRATCH)/tools
	rm -rf $(DIST_SCRATCH)/tools/deb

# The alert rules load in Prometheus and behave on synthetic series; the dashboard is JSON.
test-monitoring: $(PROMTOOL)
	$(PROMTOOL) check rules Resources/monitoring/alerts.yml
	$(PROMTOOL) test rules packaging/tests/alerts-test.yml
	python3 -m json.tool Resources/monitoring/grafana-dashboard.json >/dev/null

# The binary without the toolchain, the .deb and its maintainer scripts (packaging/test-dist),
# the monitoring files, and every metric name they use exported by this binary.
test-dist: deb test-monitoring $(VENV_READY)
	packaging/test-dist dist/switchyard $(DEB)
	SWITCHYARD_BIN=dist/switchyard $(PYTHON) -m pytest -q Tests/e2e/test_monitoring.py

# The request path's own upstream client against AsyncHTTPClient's delegate API on the same event
# loop: requests/s and CPU per request (valgrind cannot read this binary's debug info, so no callgrind here).
bench-clients: deps
	$(LOCK) $(SWIFT) build $(RELEASE) --product switchyard-clientbench
	mkdir -p $(BUILD_DIR)/bench
	$(BUILD_DIR)/release/switchyard-clientbench 20000 both | tee $(BUILD_DIR)/bench/clients.md

# SOAK_MINUTES (default 30) of mixed load with injected upstream faults on the static release build,
# then the books checked (bench/soak.py; report in .build/bench/soak.md). Not part of make test.
soak: dist $(VENV_READY)
	SWITCHYARD_BIN=dist/switchyard $(PYTHON) bench/soak.py

# The seed reader and the SSE splitter against FUZZ_ROUNDS mutated inputs each (the same property
# tests make test runs with 3000); the last seed read is kept in /tmp/switchyard-fuzz-last.toml.
FUZZ_ROUNDS ?= 200000
fuzz: deps
	$(LOCK) $(SWIFT) build --build-tests
	SWITCHYARD_FUZZ_ROUNDS=$(FUZZ_ROUNDS) SWITCHYARD_FUZZ_KEEP_INPUT=1 $(SWIFT) test --skip-build --filter "SeedFuzzTests|ServerSentEventFuzzTests|RequestBodyScanTests|UpstreamResponseParserTests"

clean:
	rm -rf $(BUILD_DIR) $(DIST_SCRATCH) dist
