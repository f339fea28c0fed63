# resource-watcher — see README.md. `make run` and `make test` work on a fresh Debian machine.
SWIFT        ?= swift
CONFIG       ?= config/resource-watcher.json
# Debian packages the build and the tests need. `deps` installs only what is missing.
APT_PACKAGES := pkg-config libzstd-dev libsnappy-dev libcurl4-openssl-dev libssl-dev iproute2 prometheus wrk docker.io docker-compose busybox-static shellcheck systemd
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PROTOC_GEN_SWIFT := .build-tools/swift-protobuf/.build/release/protoc-gen-swift
# Fuzzes the :5220 API against its /openapi.json in `make test` (scripts/schemathesis.sh).
SCHEMATHESIS_VERSION := 4.32.5
# A target that imports a module of this package it does not depend on fails the build.
IMPORT_CHECK := --explicit-target-dependency-import-check error

.PHONY: openapi deps build run test image image-test bench bench-compare soak format lint proto check-config resource-watcher resource-watcher-restart resource-watcher-status resource-watcher-logs clean

deps:
	@missing=""; for package in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@python3 -c 'import psutil, ollama, openai, importlib.metadata as m; assert m.version("schemathesis") == "$(SCHEMATHESIS_VERSION)"' 2>/dev/null || { \
	  echo "make deps: installing psutil (test reference figures), the official ollama and openai clients (proxy tests) and schemathesis $(SCHEMATHESIS_VERSION) (API fuzzing)"; \
	  python3 -m pip install -q --disable-pip-version-check psutil ollama openai schemathesis==$(SCHEMATHESIS_VERSION) 2>&1 | grep -v "WARNING: Running pip as"; true; }

build: deps
	$(SWIFT) build $(IMPORT_CHECK)

# The agent on its default config, watching this host; spools to ./spool. Ctrl-C stops it cleanly.
run: build
	$(SWIFT) run --skip-build resource-watcher run --config $(CONFIG)

check-config: build
	$(SWIFT) run --skip-build resource-watcher check-config --config $(CONFIG)

# An installed agent (scripts/components/install_resource_watcher.sh; INSTALL_ROOT is its --prefix)
# is the one status, logs and restart talk to, unless CONFIG is given; else the checkout's.
INSTALL_ROOT     ?=
INSTALLED_BINARY := $(INSTALL_ROOT)/usr/local/bin/resource-watcher
INSTALLED_CONFIG := $(INSTALL_ROOT)/opt/agency_stack/resource_watcher/config.json
# Under an INSTALL_ROOT the config's spool path is the target host's: the one under the root is used.
INSTALLED_FLAGS  := $(if $(INSTALL_ROOT),--spool-dir $(INSTALL_ROOT)/var/lib/resource-watcher/spool)
USE_INSTALLED    := $(if $(filter file,$(origin CONFIG)),$(shell [ -x $(INSTALLED_BINARY) ] && [ -f $(INSTALLED_CONFIG) ] && echo yes))

# Installs (or with FORCE=true upgrades in place) the agent as a service: make resource-watcher
# CLIENT_ID=acme DOMAIN=example.com [FORCE=true] [INSTALL_ARGS="--port=5320 --with-deps ..."].
resource-watcher:
	scripts/components/install_resource_watcher.sh --client-id=$(CLIENT_ID) --domain=$(DOMAIN) \
	  $(if $(filter true,$(FORCE)),--force) $(INSTALL_ARGS)

# Restarts the installed service; where systemd is not running, says how to restart it by hand.
resource-watcher-restart:
	@if [ -d /run/systemd/system ]; then systemctl restart resource-watcher.service && systemctl --no-pager status resource-watcher.service; \
	else echo "systemd is not running here: stop the agent with SIGTERM and start it again with $(INSTALLED_BINARY) run --config $(INSTALLED_CONFIG)" >&2; exit 1; fi

# The running agent's health, components, alerts, spool and sinks. The API token (an operator
# token for everything) comes from RESOURCE_WATCHER_TOKEN. Exit 0 healthy, 1 degraded, 2 bad
# config, 3 agent unreachable or refusing.
# The log records in the spool (the agent's, components' files, containers'); pass options in
# LOGS_ARGS, e.g. make resource-watcher-logs LOGS_ARGS="--follow --level warning".
ifeq ($(USE_INSTALLED),yes)
resource-watcher-status:
	$(INSTALLED_BINARY) status --config $(INSTALLED_CONFIG) $(INSTALLED_FLAGS)

resource-watcher-logs:
	$(INSTALLED_BINARY) logs --config $(INSTALLED_CONFIG) $(INSTALLED_FLAGS) $(LOGS_ARGS)
else
resource-watcher-status: build
	$(SWIFT) run --skip-build resource-watcher status --config $(CONFIG)

resource-watcher-logs: build
	$(SWIFT) run --skip-build resource-watcher logs --config $(CONFIG) $(LOGS_ARGS)
endif

# The whole suite. Some tests mount a tmpfs, create cgroups and network namespaces, and so need
# root (CI runs as root). Serial: on 2 cores, long blocking tests (the kill -9 cycles) would
# otherwise hold the cooperative pool and starve the timing assertions of the async HTTP tests.
# Then schemathesis against the built agent's /openapi.json: any finding fails the target, the
# install script in a temporary --prefix, the systemd unit (verify, security score at most 5.0),
# and shellcheck on every script.
test: deps lint
	$(SWIFT) build --build-tests $(IMPORT_CHECK)
	$(SWIFT) test --skip-build --no-parallel
	scripts/schemathesis.sh
	RESOURCE_WATCHER_BINARY=.build/debug/resource-watcher scripts/test-install.sh
	RESOURCE_WATCHER_BINARY=.build/debug/resource-watcher scripts/test-unit.sh
	shellcheck $(SHELL_SCRIPTS) && echo "shellcheck: no findings"
	promtool check rules config/prometheus/alerts.yml
	cd config/prometheus && promtool test rules alerts_test.yml
	docker-compose -f deploy/docker-compose.yml config -q && echo "docker-compose config: deploy/docker-compose.yml is valid"
	promtool check config deploy/compose/prometheus.yml
	.build/debug/resource-watcher check-config --config deploy/compose/resource-watcher.json

# The release binary the Dockerfile's `prebuilt` stage copies: the Swift runtime linked in, so
# the image needs only Debian's libcurl, libzstd and libsnappy.
image: deps
	$(SWIFT) build -c release --static-swift-stdlib --product resource-watcher --scratch-path .build-image

# Builds that image on a Docker engine of its own (never the host's) and runs the agent in it
# beside a container it must watch; needs root. See scripts/test-image.sh.
image-test:
	SWIFT=$(SWIFT) scripts/test-image.sh

# Release-build benchmarks; every figure is printed next to a baseline measured in the same run.
bench: deps
	$(SWIFT) build -c release --product resource-watcher-bench
	.build/release/resource-watcher-bench

# The agent against a Prometheus agent scraping node-exporter, side by side on this machine: CPU,
# peak RSS, disk and wire bytes per side, outages and a kill -9 during one (COMPARE_ROUNDS,
# COMPARE_WINDOW_SECONDS, COMPARE_OUTAGES, COMPARE_OUTAGE_SECONDS; see README "Benchmarks").
bench-compare: deps
	@dpkg-query -W -f='$${Status}' prometheus-node-exporter 2>/dev/null | grep -q "install ok installed" || { \
	  echo "make bench-compare: installing prometheus-node-exporter"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus-node-exporter >/dev/null; }
	@# The package starts its own service where systemd runs; the bench starts the exporter it measures.
	$(SWIFT) build -c release --product resource-watcher
	$(SWIFT) build -c release --product resource-watcher-bench
	.build/release/resource-watcher-bench /tmp/resource-watcher-bench compare

# The release agent for SOAK_MINUTES (default 10) against a real Prometheus and the Loki and
# orchestrator stand-ins, with sink faults, outages, its spool's disk full once (a tmpfs: root)
# and kill -9 restarts; prints every record's fate at each destination.
soak: deps
	$(SWIFT) build -c release --product resource-watcher
	$(SWIFT) build -c release --product resource-watcher-soak
	.build/release/resource-watcher-soak

SHELL_SCRIPTS = $(shell find scripts -name '*.sh')

# Every Swift file but the generated ones (protobuf, the OpenAPI document).
SWIFT_FILES = $(shell find Sources Tests -name '*.swift' ! -path 'Sources/WatcherProto/*' ! -name OpenAPIDocument.swift) Package.swift

format:
	@$(SWIFT) format --in-place --parallel $(SWIFT_FILES)

# Fails on any finding (swift-nio's style, 120 columns; .swift-format). Part of `make test`.
lint:
	@$(SWIFT) format lint --strict --parallel $(SWIFT_FILES) && echo "make lint: no findings"

# Regenerates the committed protobuf code with Debian's protoc and protoc-gen-swift built from
# the swift-protobuf version the package depends on. Never run at build time.
proto:
	@command -v protoc >/dev/null || $(SUDO) apt-get install -y -qq protobuf-compiler
	@[ -x $(PROTOC_GEN_SWIFT) ] || { \
	  rm -rf .build-tools/swift-protobuf && \
	  git clone -q --branch 1.39.0 https://github.com/apple/swift-protobuf.git .build-tools/swift-protobuf && \
	  (cd .build-tools/swift-protobuf && $(SWIFT) build -c release --product protoc-gen-swift); }
	protoc --plugin=protoc-gen-swift=$(PROTOC_GEN_SWIFT) --swift_out=Sources/WatcherProto \
	  --swift_opt=Visibility=Public --swift_opt=UseAccessLevelOnImports=true -I proto proto/batch.proto proto/remote.proto

# Sources/StatusAPI/OpenAPIDocument.swift from docs/openapi.json, the one copy to edit.
openapi:
	scripts/generate-openapi-swift.sh

clean:
	rm -rf .build .build-tools .build-image
