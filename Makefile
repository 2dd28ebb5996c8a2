# guardrail — see README.md. Every target works on a fresh machine with Go and git.
GO       ?= go
BIN      := bin/guardrail
PKGS     := ./...
BENCHTIME ?= 1x

.PHONY: all build demo test test-short vet fmt docs golden bench clean

all: build

build: ## build bin/guardrail
	$(GO) build -ldflags "-X guardrail.dev/guardrail/cmd/guardrail/cli.Commit=$$(git rev-parse --short=12 HEAD 2>/dev/null)$$(git diff --quiet HEAD 2>/dev/null || echo -dirty)" -o $(BIN) ./cmd/guardrail

demo: build ## compile environments/ into deploy/ and simulate features/ against it
	$(BIN) validate
	$(BIN) compile -o deploy
	$(BIN) simulate

test: ## run every test (what CI runs)
	@test -z "$$(gofmt -l cmd compiler simulator)" || { echo "gofmt needed:"; gofmt -l cmd compiler simulator; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) test $(PKGS)

test-short: ## skip the integration tests
	$(GO) test -short $(PKGS)

golden: ## rewrite compiler/testdata/deploy (the golden output) after a deliberate change; review the diff
	$(GO) test ./compiler/ -run TestGolden -update

docs: ## regenerate docs/ from the Go types and step definitions
	$(GO) test ./compiler/apis/... -run TestSchemaUpToDate -update
	$(GO) test ./simulator/steps/ -run TestDocsUpToDate -update

bench: ## run the benchmarks; compare runs with benchstat
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./compiler/ ./compiler/kyverno/ ./simulator/...

clean:
	rm -rf bin

# ---------------------------------------------------------------------------------------------
# Local control plane (simulator/backend/local): real kube-apiserver + embedded etcd +
# kube-controller-manager (one binary, subcommand controller-manager) and Kyverno v1.19.1,
# built from the separate modules under simulator/backend/local/tools into bin/.
# Each binary is rebuilt only when its module's go.mod/go.sum or sources change.
LOCAL_TOOLS     := simulator/backend/local/tools
LOCAL_APISERVER := bin/guardrail-kube-apiserver
LOCAL_KYVERNO   := bin/guardrail-kyverno
LOCAL_LDFLAGS   := -s -w
LOCAL_K8S_LDFLAGS := $(foreach p,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(p).gitVersion=v1.36.3 -X $(p).gitMajor=1 -X $(p).gitMinor=36 -X $(p).gitTreeState=clean)

.PHONY: local-tools test-local

local-tools: $(LOCAL_APISERVER) $(LOCAL_KYVERNO) ## build the local control plane's binaries into bin/

$(LOCAL_APISERVER): $(LOCAL_TOOLS)/go.mod $(LOCAL_TOOLS)/go.sum $(wildcard $(LOCAL_TOOLS)/kube-apiserver/*.go)
	@mkdir -p $(@D)
	cd $(LOCAL_TOOLS) && GOWORK=off $(GO) build -ldflags='$(LOCAL_LDFLAGS) $(LOCAL_K8S_LDFLAGS)' -o $(CURDIR)/$@ ./kube-apiserver

$(LOCAL_KYVERNO): $(LOCAL_TOOLS)/kyverno/go.mod $(LOCAL_TOOLS)/kyverno/go.sum
	@mkdir -p $(@D)
	cd $(LOCAL_TOOLS)/kyverno && GOWORK=off $(GO) build \
		-ldflags='$(LOCAL_LDFLAGS) -X github.com/kyverno/kyverno/pkg/version.BuildVersion=v1.19.1' \
		-o $(CURDIR)/$@ github.com/kyverno/kyverno/cmd/kyverno

test-local: local-tools ## run the local control plane's integration tests
	$(GO) test -count=1 -v -run 'Integration' ./simulator/backend/local/
