# micro: one binary, one SQLite file.
#
#   make run    build bin/micro and start the server on ./micro.db
#   make test   gofmt, vet (the bench module too), stale-proto check and every test (unit, fuzz seeds, end to end)
#   make bench  benchmarks, each against a baseline taken in the same run
#   make bench-peers  micro against its peers (direct gRPC, net/http + SQLite,
#               NATS JetStream) in one run: prints the README's table
#   make screenshots  PNGs of the dashboard's pages into docs/screenshots (needs chromium)

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
export CGO_ENABLED = 0
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# SourceDir: micro new points new services' go.mod at this checkout.
LDFLAGS := -s -w -X micro.dev/micro/cli.Version=$(VERSION) -X micro.dev/micro/cli/scaffold.SourceDir=$(CURDIR)
DATA    ?= ./micro.db

.PHONY: build run test bench bench-peers proto proto-check fmt vet clean screenshots

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/micro .

run: build
	./bin/micro server --data $(DATA)

test: vet proto-check
	$(GO) test -count=1 -timeout 12m ./...

# bench ends with a table of time-per-operation ratios to baselines measured
# in the same run (internal/benchratio names the pairs).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./... 2>&1 | $(GO) run ./internal/benchratio

# bench-peers runs the bench module (bench/, its own go.mod, so micro never
# depends on its peers) against bin/micro and ends with the README's table.
# BENCHTIME trades precision for time; the default run takes ~6 minutes.
BENCHTIME ?= 2s
bench-peers: build
	cd bench && MICRO_BIN=$(CURDIR)/bin/micro $(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 30m . 2>&1 | $(GO) run ./cmd/benchtable

# screenshots drives the dashboard in headless chromium against a real
# server and writes PNGs of its main pages, desktop and phone width.
screenshots:
	MICRO_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run '^TestDashboardScreenshots$$' -v ./e2e/

fmt:
	gofmt -w $(shell git ls-files '*.go')

# vet covers the bench module (its own go.mod) too, so it cannot rot
# between make bench-peers runs.
vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

# proto regenerates the committed Go code of proto/**/*.proto (protoc-gen-go
# and protoc-gen-go-grpc) and testdata/**/*.proto (protoc-gen-go and
# protoc-gen-micro) with Go alone: proto/gen compiles the files and runs the
# plugins, no protoc. proto-check fails when that code is stale, missing or
# orphaned; both are proto/gen's TestGeneratedCode.
proto:
	$(GO) test -count=1 -run '^TestGeneratedCode$$' ./proto/gen -update -v

proto-check:
	$(GO) test -count=1 -run '^TestGeneratedCode$$' ./proto/gen

clean:
	rm -rf bin
