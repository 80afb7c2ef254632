# Hearth — `make demo` and `make test` install what is missing, build, and run.

APT_PACKAGES := pkg-config libxapian-dev librdkafka-dev libpq-dev libzstd-dev libmimalloc-dev zstd chromium \
                postgresql postgresql-15-hll kcat util-linux wrk
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT_BUILD_FLAGS ?=

SCHEMATHESIS_VERSION := 4.32.5
# The whole test run's time limit in seconds (it takes 5–6 minutes here): a hung test fails the
# run with the names of the tests still running instead of holding CI until its own limit.
TEST_TIME_LIMIT ?= 1200

.PHONY: all deps tools build release demo test bench clean

all: build

# Installs the Debian packages that are missing (idempotent: does nothing when all are present).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v swift >/dev/null || { echo "swift is not on PATH (expected Swift 6 at /opt/swift)"; exit 1; }

# Test tools from PyPI, in a virtual environment under .build (schemathesis checks the live API
# against its OpenAPI document).
tools:
	@[ -x .build/tools/bin/schemathesis ] && .build/tools/bin/schemathesis --version | grep -q "$(SCHEMATHESIS_VERSION)" || { \
	  echo "Installing schemathesis $(SCHEMATHESIS_VERSION) into .build/tools"; \
	  python3 -m venv .build/tools && .build/tools/bin/pip install -q "schemathesis==$(SCHEMATHESIS_VERSION)"; }

build: deps
	swift build --product hearth $(SWIFT_BUILD_FLAGS)

release: deps
	swift build -c release --product hearth

demo: build
	.build/debug/hearth demo

# The tests' temporary files (the shared PostgreSQL server's data, about 900 MB; indexes, archives) go
# to a directory of this run's own, removed when the run ends, passed or not.
test: deps tools
	swift build --build-tests $(SWIFT_BUILD_FLAGS)
	@set -o pipefail; tmp=$$(mktemp -d /tmp/hearth-test.XXXXXX) && chmod 755 $$tmp || exit 1; \
	TMPDIR=$$tmp timeout --kill-after=30 $(TEST_TIME_LIMIT) swift test --skip-build $(SWIFT_BUILD_FLAGS) 2>&1 | tee .build/test.log; \
	status=$$?; rm -rf $$tmp; [ $$status -eq 0 ] || .ci/unfinished-tests .build/test.log $$status; exit $$status

bench: release
	.build/release/hearth bench ingest

clean:
	rm -rf .build hearth-data
