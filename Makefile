# TelaMentis build targets. `make test` is the one test command: README and CI
# call it. Suites that need PostgreSQL or Redis run when their env vars are
# set (.ci/run sets them) and skip otherwise.
GO       ?= go
PKGS     ?= ./...
FUZZTIME ?= 10s

# The Go release every build uses. Machines here run an older go with
# GOTOOLCHAIN=local; naming the release makes the go command fetch it through
# the module proxy (go.mod's go line refuses anything older).
export GOTOOLCHAIN := go1.26.10

STATICCHECK_VERSION ?= v0.8.2
# Packages with concurrency the race detector runs over (make race).
RACE_PKGS ?= ./badger/... ./postgres/... ./httpapi/... ./pipeline/... ./audit/...

.PHONY: build test race bench bench-workload fuzz lint staticcheck vuln tidy

build:
	$(GO) build -o bin/ ./cmd/...

test:
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 30m $(PKGS)

# race runs the packages with concurrency under the race detector.
race:
	$(GO) test -race -count=1 -timeout 30m $(RACE_PKGS)

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

staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

# vuln runs govulncheck against the vulnerability database fetched through
# the module proxy (scripts/vulncheck.sh); any reachable finding fails.
vuln:
	scripts/vulncheck.sh

tidy:
	$(GO) mod tidy
