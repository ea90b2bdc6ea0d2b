# TelaMentis build targets. `make test` is the one test command: README and CI
# call it. Suites that need PostgreSQL or Redis run when their env vars are
# set (.ci/run sets them) and skip otherwise.
GO       ?= go
PKGS     ?= ./...
FUZZTIME ?= 10s

.PHONY: build test bench bench-workload fuzz lint tidy

build:
	$(GO) build -o bin/ ./cmd/...

test:
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 30m $(PKGS)

bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

# bench-workload runs the standard kgbench workload (SIZE=small|medium) on the
# embedded store side by side with the SQLite and raw Badger peers.
SIZE ?= small
bench-workload:
	scripts/bench.sh $(SIZE)

# fuzz runs every fuzz target for FUZZTIME each.
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) mod tidy -diff

tidy:
	$(GO) mod tidy
