# udesk-etl: `make demo` runs the tool against the embedded simulator,
# `make test` runs every test (what CI runs), `make test-short` the quick ones.
GO      ?= go
BIN     := bin/udesk-etl
BENCHER := bin/udesk-etl-bench
DEMO    := demo-out
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build test test-short vet fmt-check demo bench bench-peer fuzz soak clean check-libreoffice tools

# -s -w: no symbol table or debug info (a third smaller binary).
build:
	@echo "building $(BIN) (the first build compiles the Parquet, Excel and S3 libraries: several minutes on a small machine)"
	$(GO) build -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) ./cmd/udesk-etl

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test: fmt-check vet tools
	$(GO) test -race -count=1 -timeout 30m ./...

# The edit-compile-test loop: everything but the crash, soak and budget
# tests that take seconds to minutes each; on a fresh clone (no make tools)
# the bucket tests skip, saying how to install the S3 test server.
test-short:
	$(GO) test -short -count=1 ./...

# The demo: a simulator with sample data on a free loopback port, then the
# tool against it. Everything it writes lands in demo-out/.
demo: build
	@DEMO=$(DEMO) BIN=$(BIN) bash samples/demo.sh

# `make bench` measures: the Go benchmarks (short -benchtime; the optimised
# hot paths five times more, the report taking each one's best), then
# udesk-etl-bench (cmd/udesk-etl-bench) measuring bin/udesk-etl, which writes
# the report BENCHMARKS.md (and its data as bench-out/bench.json) with the Go
# benchmarks' output included, and the sync's cost at 1M tickets (a full
# run, an unchanged one, a --changed-filter one). About fifteen
# minutes on two cores. `make bench-peer` adds DuckDB beside the tool: it
# installs @duckdb/node-api from npm into a temporary folder, removed after.
BENCHTIME ?= 200ms
bench: build
	@mkdir -p bench-out
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -timeout 60m ./... > bench-out/go-bench.txt || { cat bench-out/go-bench.txt; exit 1; }
	$(GO) test -run '^$$' -bench 'DecodePage|ExporterRow' -benchmem -count 5 ./udesk/ ./mapping/ >> bench-out/go-bench.txt || { cat bench-out/go-bench.txt; exit 1; }
	@grep -E '^(Benchmark|ok|FAIL)' bench-out/go-bench.txt
	$(GO) build -o $(BENCHER) ./cmd/udesk-etl-bench
	$(BENCHER) --udesk-etl $(BIN) --go-bench bench-out/go-bench.txt --md BENCHMARKS.md --json bench-out/bench.json $(BENCH_FLAGS)

bench-peer:
	@peer=$$(mktemp -d) && trap 'rm -rf "$$peer"' EXIT && \
	  (cd "$$peer" && npm install --no-audit --no-fund --silent @duckdb/node-api) && \
	  $(MAKE) bench BENCH_FLAGS="--peer $$peer $(BENCH_FLAGS)"

FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin $(DEMO) bench-out

# The reliability soak: the crash matrix at 50k rows with 20 kills per
# export and import operation, the fault matrix on a larger data set, and
# the sync's kill matrix at 5,000 tickets (UDESK_SOAK=1 picks the sizes;
# make test runs the CI sizes).
soak:
	UDESK_SOAK=1 $(GO) test -count=1 -timeout 90m -v -run '^Test(CrashMatrix|FaultMatrix|FaultOutage|FaultChurn|SyncIcebergSurvivesSIGKILL)' ./cmd/udesk-etl

# An exported workbook opened by LibreOffice (headless): values, dates and
# drop-downs intact, and unchanged once LibreOffice saves it again. Installs
# LibreOffice Calc with apt-get (Debian/Ubuntu, as root) when soffice is
# missing; `make test` skips this test without it.
check-libreoffice:
	@command -v soffice >/dev/null 2>&1 || { apt-get update && apt-get install -y --no-install-recommends libreoffice-calc-nogui; }
	$(GO) test -count=1 -run '^TestEditWorkbookInLibreOffice$$' -v ./cmd/udesk-etl/

# Test tools the project installs itself into .tools/bin: versitygw, the
# S3-compatible server the dataset tests run against (a few minutes to build
# the first time; nothing to do after). The bucket tests fail without it,
# unless UDESK_SKIP_S3_TESTS=1.
tools:
	@bash scripts/install-versitygw.sh
	@bash scripts/install-postgres.sh
