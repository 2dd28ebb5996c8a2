# guardrail — see README.md. Every target works on a fresh machine with Go and git.
GO       ?= go
BIN      := bin/guardrail
PKGS     := ./...
BENCHTIME ?= 1x

.PHONY: all build demo test test-short vet fmt docs bench clean

all: build

build: ## build bin/guardrail
	$(GO) build -o $(BIN) ./cmd/guardrail

demo: build ## compile environments/ into deploy/ and simulate features/ against it
	$(BIN) validate
	$(BIN) compile -o deploy
	@if $(BIN) simulate --help >/dev/null 2>&1; then $(BIN) simulate; fi

test: ## run every test (what CI runs)
	@test -z "$$(gofmt -l cmd compiler simulator)" || { echo "gofmt needed:"; gofmt -l cmd compiler simulator; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) test $(PKGS)

test-short: ## skip the integration tests
	$(GO) test -short $(PKGS)

docs: ## regenerate docs/ from the Go types and step definitions
	$(GO) test ./compiler/apis/... -run TestSchemaUpToDate -update
	$(GO) test ./simulator/steps/ -run TestDocsUpToDate -update

bench: ## run the benchmarks; compare runs with benchstat
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./compiler/ ./compiler/kyverno/ ./simulator/...

clean:
	rm -rf bin
