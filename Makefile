# crddemo — build, test and run the Mydemo controller.
#
# make test        unit + integration + end-to-end tests on a real control plane (and a real node)
# make test-race   unit tests under the race detector
# make image       OCI image archives in bin/images/, built without Docker
# make verify      generated code current, gofmt, go vet, no dead code (staticcheck U1000)
# make run         run the controller (local control plane unless KUBECONFIG is set)
# make bench       benchmarks on the real control plane at BENCH_N Mydemos (not part of make test)
# make bench-shard the sharded scenario (--sharding, 3 replicas) at BENCH_N Mydemos (not part of make test)
# make bench-go    Go micro-benchmarks and the probe engine, no control plane (not part of make test)

SHELL := /usr/bin/env bash -o pipefail
.DEFAULT_GOAL := build

GO       ?= go
BIN      := $(CURDIR)/bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
LDFLAGS  := -s -w -X github.com/crddemo/crddemo/pkg/version.Version=$(VERSION)
IMAGE    ?= crddemo/mydemo-controller:$(VERSION)
# Timeout for the packages that need the control plane (and root, for network namespaces).
TEST_TIMEOUT ?= 15m
BENCH_N  ?= 2000
# Endpoints per Mydemo in the bench (1: spec.ip; more: spec.endpoints).
BENCH_ENDPOINTS ?= 1

# No DWARF in anything the go command compiles here: every binary and test
# binary is linked without it (-s -w), and generating it costs about a
# tenth of the compile CPU. Exported, so that hack/build-controlplane.sh
# and every tool build compile the packages they share the same way, and
# each of them once.
export GOFLAGS := $(strip $(GOFLAGS) -gcflags=all=-dwarf=false)

COREDNS_STAMP := $(BIN)/.coredns-$(shell cat hack/coredns/go.mod hack/coredns/go.sum hack/coredns/main.go 2>/dev/null | sha256sum | cut -c1-12)
CONTROLPLANE_STAMP := $(BIN)/.controlplane-$(shell cat hack/controlplane/go.mod hack/controlplane/go.sum hack/controlplane/main.go hack/build-controlplane.sh 2>/dev/null | sha256sum | cut -c1-12)
PROMTOOL_STAMP := $(BIN)/.promtool-$(shell cat hack/promtool/go.mod hack/promtool/go.sum 2>/dev/null | sha256sum | cut -c1-12)

.PHONY: all
all: verify build test

## build: the controller binary, bin/mydemo-controller
.PHONY: build
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/mydemo-controller ./cmd/mydemo-controller

## controlplane: etcd, kube-apiserver, kube-controller-manager, kubectl, kube-scheduler, kubelet, kube-proxy into bin/ (no-op when current):
## one executable, bin/controlplane, and a symlink per component
.PHONY: controlplane
controlplane: $(CONTROLPLANE_STAMP)

$(CONTROLPLANE_STAMP):
	rm -f $(BIN)/.controlplane-*
	hack/build-controlplane.sh
	touch $@

## coredns: bin/coredns from the pinned module in hack/coredns (cluster DNS for the tests; no-op when current)
.PHONY: coredns
coredns: $(COREDNS_STAMP)

$(COREDNS_STAMP):
	rm -f $(BIN)/.coredns-*
	CGO_ENABLED=0 $(GO) -C hack/coredns build -trimpath -ldflags "-s -w" -o $(BIN)/coredns .
	touch $@

## promtool: bin/promtool from the pinned module in hack/promtool, for the alert rules' unit tests (no-op when current).
## Built without service discovery (tag remove_all_sd): rule tests need none of it, and it is most of promtool's code.
.PHONY: promtool
promtool: $(PROMTOOL_STAMP)

$(PROMTOOL_STAMP):
	rm -f $(BIN)/.promtool-*
	CGO_ENABLED=0 $(GO) -C hack/promtool build -trimpath -ldflags "-s -w" -tags remove_all_sd -o $(BIN)/promtool github.com/prometheus/prometheus/cmd/promtool
	touch $@

## image: OCI image archives of the controller and of a pause image into bin/images/ (no Docker, nothing pulled)
.PHONY: image
image: build
	mkdir -p $(BIN)/images
	CGO_ENABLED=0 $(GO) -C hack/image build -trimpath -ldflags "-s -w" -o $(BIN)/images/pause ./pause
	$(GO) -C hack/image run . -binary $(BIN)/mydemo-controller -path /mydemo-controller \
	  -ref $(IMAGE) -ref crddemo/mydemo-controller:local -version $(VERSION) -out $(BIN)/images/mydemo-controller.tar
	$(GO) -C hack/image run . -binary $(BIN)/images/pause -path /pause -user 65535:65535 \
	  -ref crddemo.local/pause:1 -version 1 -out $(BIN)/images/pause.tar

## helm: bin/helm from the pinned module in hack/helm (for the chart tests)
.PHONY: helm
helm:
	CGO_ENABLED=0 $(GO) -C hack/helm build -trimpath -ldflags "-s -w" -o $(BIN)/helm helm.sh/helm/v4/cmd/helm

## generate: regenerate deepcopy, clientset, listers, informers, apply configurations and the CRD
.PHONY: generate
generate:
	hack/update-codegen.sh

## staticcheck: bin/staticcheck from the pinned module in hack/staticcheck (for make verify)
.PHONY: staticcheck
staticcheck:
	CGO_ENABLED=0 $(GO) -C hack/staticcheck build -trimpath -ldflags "-s -w" -o $(BIN)/staticcheck honnef.co/go/tools/cmd/staticcheck

## verify: generated code is current, shared modules at one version, gofmt and go vet are clean, no dead code
.PHONY: verify
verify: staticcheck
	hack/verify-codegen.sh
	hack/verify-shared-versions.sh
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; \
	  if [[ -n "$$out" ]]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) -C hack/image vet ./...
	$(GO) -C hack/promtool vet ./monitoring/
	# Dead code: unused functions, types, fields and constants.
	$(BIN)/staticcheck -checks U1000 ./...
	cd hack/image && $(BIN)/staticcheck -checks U1000 ./...

# Tests build the way the binaries do (static, -trimpath, no DWARF), and the
# tool modules in hack/ pin the same versions of every module they share
# with this one, so client-go, the API types and the rest compile once for
# the control plane, helm, the controller and every test binary.
# go test's own vet pass is off: it analyses every dependency of every test
# package (client-go, the API types) for facts, 44 s of CPU from a cold
# cache, and `make verify` runs the whole of go vet on the same code.
TEST_ENV   := CGO_ENABLED=0 CRDDEMO_BIN_DIR=$(BIN)
TEST_FLAGS := -trimpath -ldflags "-s -w" -count=1 -vet=off

## test: unit tests, then integration and end-to-end tests on a real control plane
.PHONY: test
test: controlplane coredns build image
	# The unit tests, then the test/ packages but test/node side by side,
	# test/integration (the longest) first: each starts its own control
	# plane, test hosts and controller processes on free ports and subnets,
	# and their tests mostly wait on probe periods, so four of them use
	# about one of the 2 cores. Inside a package, up to 8 tests that call
	# t.Parallel share its control plane (the default, GOMAXPROCS, is 2).
	# Meanwhile helm (for test/node) and promtool (for the alert rules)
	# build in the background at the lowest priority, on the core the tests
	# leave idle; the tests' exit status waits for that build, whose output
	# follows theirs.
	nice -n 19 $(MAKE) --no-print-directory helm promtool > $(BIN)/.tools.log 2>&1 & tools=$$!; \
	$(TEST_ENV) $(GO) test $(TEST_FLAGS) ./pkg/... ./cmd/... && \
	$(TEST_ENV) $(GO) test $(TEST_FLAGS) -p 4 -parallel 8 -timeout $(TEST_TIMEOUT) \
	  ./test/integration $$($(GO) list ./test/... | grep -v -e '/test/integration$$' -e '/test/node$$'); \
	rc=$$?; wait $$tools; tools_rc=$$?; cat $(BIN)/.tools.log; \
	if (( tools_rc != 0 )); then echo "make helm promtool failed"; exit $$tools_rc; fi; exit $$rc
	# Alerts and dashboard (deploy/monitoring): the rules' unit tests, then
	# every query against Prometheus' parsers and the controller's metrics.
	$(BIN)/promtool check rules deploy/monitoring/rules.yaml
	$(BIN)/promtool test rules deploy/monitoring/rules_test.yaml
	$(TEST_ENV) $(GO) -C hack/promtool test $(TEST_FLAGS) ./monitoring/
	# test/node alone: its bounds (kube-proxy reprogrammed within a probe
	# period and 1 s) are measured on the whole machine.
	$(TEST_ENV) $(GO) test $(TEST_FLAGS) -parallel 8 -timeout $(TEST_TIMEOUT) ./test/node

## test-race: the unit tests under the race detector (CI runs it after make test)
.PHONY: test-race
test-race:
	$(GO) test -race -count=1 ./pkg/... ./cmd/...

## run: the controller in the foreground (see README: local control plane or KUBECONFIG)
.PHONY: run
run: controlplane build
	hack/run.sh

## bench: floor, convergence, steady state, restart, memory, churn and outage at BENCH_N Mydemos on the real control plane;
## results.md, results.json and pictures (convergence.svg, outage.svg, lateness.svg) in _output/bench
.PHONY: bench
bench: controlplane build
	BENCH_N=$(BENCH_N) $(TEST_ENV) $(GO) run -trimpath ./test/bench -n $(BENCH_N) -endpoints $(BENCH_ENDPOINTS) -out $(CURDIR)/_output/bench

## bench-shard: --sharding at BENCH_N single-endpoint Mydemos: 3 replicas, kill -9 one, 2 -> 3 -> 4 -> 2 (not part of make test)
.PHONY: bench-shard
bench-shard: controlplane build
	$(TEST_ENV) $(GO) run -trimpath ./test/bench -sharding -n $(BENCH_N) -out $(CURDIR)/_output/bench-shard

## bench-go: Go micro-benchmarks of pkg/... and the probe engine at 100,000 targets (no control plane; they do not depend on BENCH_N)
.PHONY: bench-go
bench-go:
	CGO_ENABLED=0 $(GO) test -trimpath -run '^$$' -bench . -benchmem ./pkg/...
	CGO_ENABLED=0 $(GO) run -trimpath ./test/bench -engine

## docker-build: the container image (needs a Docker engine; not available on CI machines)
.PHONY: docker-build
docker-build:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

.PHONY: clean
clean:
	rm -rf $(BIN)/mydemo-controller _output .state
