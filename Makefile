# micro: one binary, one SQLite file.
#
#   make run    build bin/micro and start the server on ./micro.db
#   make test   gofmt, vet, stale-proto check and every test (unit, fuzz seeds, end to end)
#   make bench  benchmarks, each against a baseline taken in the same run
#   make screenshots  PNGs of the dashboard's pages into docs/screenshots (needs chromium)

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
export CGO_ENABLED = 0
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# SourceDir: micro new points new services' go.mod at this checkout.
LDFLAGS := -s -w -X micro.dev/micro/cli.Version=$(VERSION) -X micro.dev/micro/cli/scaffold.SourceDir=$(CURDIR)
DATA    ?= ./micro.db

PROTO_FILES := $(shell find proto -name '*.proto' | sort)
# Sample services' protos: Go and micro code (protoc-gen-micro) beside each.
TESTDATA_PROTOS := $(shell find testdata -name '*.proto' | sort)

.PHONY: build run test bench proto proto-check fmt vet clean screenshots

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

# screenshots drives the dashboard in headless chromium against a real
# server and writes PNGs of its main pages, desktop and phone width.
screenshots:
	MICRO_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run '^TestDashboardScreenshots$$' -v ./e2e/

fmt:
	gofmt -w $(shell git ls-files '*.go')

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bin/protoc-gen-go bin/protoc-gen-go-grpc: go.mod
	$(GO) build -o bin/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
	$(GO) build -o bin/protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc

bin/protoc-gen-micro: go.mod $(shell find proto/gen cmd/protoc-gen-micro -name '*.go')
	$(GO) build -o bin/protoc-gen-micro ./cmd/protoc-gen-micro

# proto regenerates the committed Go code from proto/**/*.proto and
# testdata/**/*.proto (needs protoc).
proto: bin/protoc-gen-go bin/protoc-gen-go-grpc bin/protoc-gen-micro
	$(call protoc_into,proto)
	$(call protoc_testdata,.)

# proto-check fails when the committed generated code differs from what
# `make proto` would write.
proto-check: bin/protoc-gen-go bin/protoc-gen-go-grpc bin/protoc-gen-micro
	@rm -rf bin/_proto-check && mkdir -p bin/_proto-check/proto
	$(call protoc_into,bin/_proto-check/proto)
	$(call protoc_testdata,bin/_proto-check)
	@cd bin/_proto-check && for f in $$(find . -name '*.go'); do \
	  cmp -s "$$f" "../../$$f" || { echo "stale generated code: $${f#./} (run make proto)"; exit 1; }; \
	done
	@for f in $$(find proto testdata -name '*.pb.go' -o -name '*.pb.micro.go'); do \
	  [ -f "bin/_proto-check/$$f" ] || { echo "orphaned generated file: $$f"; exit 1; }; \
	done
	@echo "proto: generated code is up to date"

define protoc_into
	protoc -I proto \
	  --plugin=protoc-gen-go=bin/protoc-gen-go --go_out=paths=source_relative:$(1) \
	  --plugin=protoc-gen-go-grpc=bin/protoc-gen-go-grpc --go-grpc_out=paths=source_relative:$(1) \
	  $(patsubst proto/%,%,$(PROTO_FILES))
endef

# protoc_testdata generates each testdata proto's Go and micro code into
# $(1)/<the proto's directory>.
define protoc_testdata
	@for p in $(TESTDATA_PROTOS); do d=$$(dirname $$p); mkdir -p $(1)/$$d; \
	  protoc -I $$d \
	    --plugin=protoc-gen-go=bin/protoc-gen-go --go_out=paths=source_relative:$(1)/$$d \
	    --plugin=protoc-gen-micro=bin/protoc-gen-micro --micro_out=paths=source_relative:$(1)/$$d \
	    $$(basename $$p) || exit 1; \
	done
endef

clean:
	rm -rf bin
