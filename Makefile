# faultline developer entry points. Tests start the services they need
# themselves (internal/testenv); run `make deps` once on a fresh machine.

GO ?= go

# chDB (ClickHouse 26.7 as a library) for the dialect tests: an explicit
# CHDB_LIB_PATH wins, then the copy scripts/deps.sh installs, then /opt/chdb.
CHDB_LIB_PATH ?= $(firstword $(wildcard \
	$(CURDIR)/.run/chdb/node_modules/@chdb/lib-linux-x64-gnu/libchdb.so \
	/opt/chdb/node_modules/@chdb/lib-linux-x64-gnu/libchdb.so))
export CHDB_LIB_PATH

# Build identity stamped into every binary (--version, faultline_build_info) through
# github.com/prometheus/common/version. The scripts behind make run/bench build with it too.
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH     ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS ?= -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildDate=$(BUILD_DATE)
FAULTLINE_LDFLAGS := $(LDFLAGS)
export FAULTLINE_LDFLAGS

COMMANDS := ingest query loadgen devbroker faultline-gen catalog-gen

.PHONY: build binaries test deps services-up services-down generate

build:
	$(GO) build -ldflags '$(LDFLAGS)' ./...

# Every command into .run/bin, stamped: .run/bin/ingest --version names the commit it came from.
binaries:
	@mkdir -p .run/bin
	@for c in $(COMMANDS); do echo "$(GO) build -o .run/bin/$$c ./cmd/$$c"; \
		$(GO) build -ldflags '$(LDFLAGS)' -o .run/bin/$$c ./cmd/$$c || exit 1; done

# The ClickHouse 26.7 dialect tests need libchdb.so: when it is missing, scripts/deps.sh
# installs it (and any missing service package) first.
test:
	@lib="$(CHDB_LIB_PATH)"; \
	if [ -z "$$lib" ]; then lib="$$(scripts/deps.sh | sed -n 's/^CHDB_LIB_PATH=//p')"; fi; \
	test -n "$$lib" || { echo "libchdb.so could not be installed: see scripts/deps.sh" >&2; exit 1; }; \
	set -e; export CHDB_LIB_PATH="$$lib"; \
	echo "$(GO) vet ./..."; $(GO) vet ./...; \
	unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:" >&2; echo "$$unformatted" >&2; exit 1; fi; \
	echo "$(GO) test -count=1 -timeout 25m ./..."; $(GO) test -count=1 -timeout 25m ./...

deps:
	scripts/deps.sh

services-up:
	scripts/services.sh up

services-down:
	scripts/services.sh down

generate:
	$(GO) generate ./...

# Side by side in one run on its own broker + ClickHouse 18.16 under .run/bench, BENCH_EVENTS
# (default 1M) well-formed events: kcat (consume limit), the server's Kafka engine + view (peer),
# ingest --drain, INSERT ... SELECT (insert limit). bench-2: two ingesters in one group (and two
# Kafka engine consumers). Needs make deps.
.PHONY: bench bench-2
bench:
	scripts/bench.sh
bench-2:
	BENCH_INGESTERS=2 scripts/bench.sh
# bench-cluster: BENCH_EVENTS (1M) into one server and into the 2x2 cluster (ZooKeeper + four
# 18.16 servers, cmd/devcluster) with BENCH_INGESTERS (2) ingesters, same run, exact counts.
.PHONY: bench-cluster
bench-cluster:
	scripts/bench-cluster.sh

# The whole pipeline with traffic and a spike: services-up, migrate, ingester + loadgen
# (RUN_RATE, RUN_SPIKE). Ctrl-C stops ingester and loadgen; make services-down stops services.
.PHONY: run
run:
	scripts/run.sh

# Times the query CLI on 10M events in a private ClickHouse 18.16 (not part of test).
.PHONY: bench-query
bench-query:
	scripts/bench-query.sh

# Partition assignment cost (fence + first skip-read window) with 10M stored offsets of one
# partition: committed, 50k uncommitted, group reset. FAULTLINE_BENCH_ROWS changes the size.
.PHONY: bench-skip
bench-skip:
	$(GO) test -run '^$$' -bench BenchmarkSkipReadAtAssignment -benchtime 10x -timeout 30m ./pipeline

# The hot path from a fetched Kafka message to encoded ClickHouse blocks (check, columns,
# Native encoding; no network), the rows path columnar batches replaced and the ingester's
# columnar Batch side by side in one run, on one core: ns/event, allocs/event, events per CPU-second. Not part of test.
# HOTPATH_COUNT runs of each; benchstat (pinned) summarises them.
HOTPATH_COUNT ?= 6
BENCHSTAT ?= $(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
.PHONY: bench-hotpath
bench-hotpath:
	@mkdir -p .run
	uptime
	$(GO) test -run '^$$' -bench '^BenchmarkHotPath$$' -benchtime 20x -count $(HOTPATH_COUNT) -cpu 1 \
		-timeout 30m ./pipeline | tee .run/bench-hotpath.txt
	uptime
	$(BENCHSTAT) -col /path .run/bench-hotpath.txt

# The fault-injection scenarios of faults/ combined at random for SOAK_DURATION (not in CI):
# `make soak SOAK_DURATION=1h`. SOAK_RATE sets messages/s, SOAK_SEED replays fault choices.
SOAK_DURATION ?= 10m
.PHONY: soak
soak:
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -tags soak -count=1 -v -timeout 0 -run '^TestSoak$$' ./faults

# The container image without a Docker engine: every command built on the host (CGO_ENABLED=0)
# and packed FROM scratch by podman (scripts/image.sh; IMAGE, IMAGE_ROOT, IMAGE_ARCHIVE). The
# multi-stage Dockerfile at the root builds the same image where a registry can be reached.
.PHONY: image
image:
	scripts/image.sh
