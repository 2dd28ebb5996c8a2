package steps_test

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"guardrail.dev/guardrail/simulator/steps"
)

var update = flag.Bool("update", false, "rewrite docs/steps.md")

// TestDocsUpToDate fails when docs/steps.md no longer matches the step definitions; run
// make docs to regenerate it.
func TestDocsUpToDate(t *testing.T) {
	const path = "../../docs/steps.md"
	want := steps.Markdown()
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run make docs and commit the result", path)
	}
}

// TestEveryExampleMatchesExactlyItsStep keeps the documentation honest: each documented
// example is accepted, by its own step and by no other.
func TestEveryExampleMatchesExactlyItsStep(t *testing.T) {
	for _, st := range steps.Vocabulary {
		text := st.Example
		for _, kw := range []string{"Given ", "When ", "Then ", "And "} {
			text = strings.TrimPrefix(text, kw)
		}
		m := steps.Match(text)
		if len(m) != 1 || m[0] != st {
			t.Errorf("example %q matches %d steps", st.Example, len(m))
		}
	}
}

func TestNearest(t *testing.T) {
	got := steps.Nearest(`I am "bob" using permision set "Dev"`, 1)
	if len(got) != 1 || got[0] != `Given I am "elon.musk@example.com" using permission set "Cell_Infra_Admin"` {
		t.Errorf("nearest = %q", got)
	}
	// A step with a verb the vocabulary lacks: the request step it resembles most, not the
	// shortest step.
	if got := steps.Nearest(`it is deneid`, 1); len(got) != 1 || !strings.HasPrefix(got[0], "Then it is denied") {
		t.Errorf("Nearest(it is deneid) = %q", got)
	}
	if got := steps.Nearest(`I teleport into namespace "loki"`, 1); len(got) != 1 || got[0] != `When I delete configmap "settings" in namespace "testnamespace"` {
		t.Errorf("Nearest(teleport) = %q", got)
	}
}
