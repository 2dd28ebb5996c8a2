package compiler_test

import (
	"testing"

	"guardrail.dev/guardrail/compiler"
	"guardrail.dev/guardrail/compiler/fixtures"
	"guardrail.dev/guardrail/compiler/load"
)

func TestLargeEnvironmentShape(t *testing.T) {
	loaded, ds := load.Load([]load.Source{{Path: "large.yaml", Data: fixtures.LargeEnvironment()}})
	if len(ds.Errors(false)) > 0 {
		t.Fatal(ds.Errors(false))
	}
	e := loaded[0].Env
	if len(e.Teams) != 200 || len(e.People) != 2000 || len(e.Namespaces) != 500 || len(e.Guardrails) != 300 || len(e.PodIdentities) != 200 {
		t.Fatalf("teams %d people %d namespaces %d guardrails %d pod identities %d",
			len(e.Teams), len(e.People), len(e.Namespaces), len(e.Guardrails), len(e.PodIdentities))
	}
}

// BenchmarkCompileLarge compiles the large environment end to end: load, validate, emit,
// Kyverno validation of 300 policies and the krusty build. Target: under 2 s, 500 MB.
func BenchmarkCompileLarge(b *testing.B) {
	src := []load.Source{{Path: "large.yaml", Data: fixtures.LargeEnvironment()}}
	lib := library(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := compiler.Compile(src, lib, compiler.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
