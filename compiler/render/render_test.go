package render_test

import (
	"bytes"
	"strings"
	"testing"

	"guardrail.dev/guardrail/compiler/emit"
	"guardrail.dev/guardrail/compiler/fixtures"
	"guardrail.dev/guardrail/compiler/load"
	"guardrail.dev/guardrail/compiler/render"
)

func emitted(t *testing.T, src []byte) (map[string][]byte, string) {
	t.Helper()
	loaded, ds := load.Load([]load.Source{{Path: "env.yaml", Data: src}})
	if len(ds.Errors(false)) > 0 {
		t.Fatal(ds.Errors(false))
	}
	env := loaded[0].Env
	files, err := emit.Environment(env, emit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for p, b := range files {
		out[env.Name+"/"+p] = b
	}
	base, _ := emit.Base(map[string][]byte{"lib.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lib\n  namespace: default\n")})
	for p, b := range base {
		out["base/"+p] = b
	}
	return out, env.Name
}

// TestChunkedBuildEqualsKrusty: the chunked render gives krusty's bytes for a whole build.
func TestChunkedBuildEqualsKrusty(t *testing.T) {
	files, env := emitted(t, fixtures.LargeEnvironment())
	whole, err := render.BuildWhole(files, env)
	if err != nil {
		t.Fatal(err)
	}
	chunked, err := render.Build(files, env)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(whole), "\n---\n") + 1; n < 1000 {
		t.Fatalf("only %d objects: the test needs a large overlay", n)
	}
	if !bytes.Equal(whole, chunked) {
		t.Fatal("chunked build differs from krusty's whole build")
	}
}

func TestDuplicateIDsAreRefused(t *testing.T) {
	doc := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"
	var many []string
	for i := 0; i < 70; i++ {
		many = append(many, strings.Replace(doc, "name: a", "name: n"+strings.Repeat("x", i+1), 1))
	}
	files := map[string][]byte{
		"o/kustomization.yaml": []byte("resources:\n- a.yaml\n- b.yaml\n"),
		"o/a.yaml":             []byte(strings.Join(append(many, doc), "---\n")),
		"o/b.yaml":             []byte(doc),
	}
	_, errWhole := render.BuildWhole(files, "o")
	_, errChunked := render.Build(files, "o")
	if errWhole == nil || errChunked == nil || !strings.Contains(errChunked.Error(), "already registered id") {
		t.Fatalf("whole: %v; chunked: %v", errWhole, errChunked)
	}
}
