# udesk-etl: `make demo` runs the tool against the embedded simulator,
# `make test` runs every test (what CI runs).
GO      ?= go
BIN     := bin/udesk-etl
DEMO    := demo-out
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build test vet fmt-check demo bench fuzz soak clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/udesk-etl

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test: fmt-check vet
	$(GO) test -race -count=1 -timeout 15m ./...

# The demo: a simulator with sample data on a free loopback port, then the
# tool against it. Everything it writes lands in demo-out/.
demo: build
	@DEMO=$(DEMO) BIN=$(BIN) bash samples/demo.sh

bench: build
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin $(DEMO)
