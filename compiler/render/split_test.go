package render

import "testing"

func TestStartsMapping(t *testing.T) {
	tests := []struct {
		doc  string
		want bool
	}{
		{"apiVersion: v1\nkind: Namespace\n", true},
		{"# generated\n---\n\nkind: X\n", true},
		{"metadata:\n  name: x\n", true},
		{"a.b/c-d_e:\n", true},
		{"", false},
		{"# only a comment\n", false},
		{"---\n", false},
		{"null\n", false},
		{"~\n", false},
		{"- a\n", false},
		{"key:value\n", false}, // a plain scalar in YAML, not a mapping
		{"'quoted': v\n", false},
		{"  indented: v\n", false},
	}
	for _, tt := range tests {
		if got := startsMapping([]byte(tt.doc)); got != tt.want {
			t.Errorf("startsMapping(%q) = %v, want %v", tt.doc, got, tt.want)
		}
	}
}

func TestSplitDocsDropsEmptyDocuments(t *testing.T) {
	docs, err := splitDocs([]byte("# header\n---\na: 1\n---\n# nothing\n---\nnull\n---\n- x\n---\nb: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a: 1\n", "- x\n", "b: 2\n"}
	if len(docs) != len(want) {
		t.Fatalf("got %d documents %q, want %q", len(docs), docs, want)
	}
	for i := range want {
		if string(docs[i]) != want[i] {
			t.Errorf("document %d = %q, want %q", i, docs[i], want[i])
		}
	}
}
