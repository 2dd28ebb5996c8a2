package kyverno

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	policiesv1beta1 "github.com/kyverno/api/api/policies.kyverno.io/v1beta1"
	vpolvalidation "github.com/kyverno/kyverno/pkg/cel/policies/vpol"
)

// vpolHeader is a valid ValidatingPolicy up to its validations; cases append to it.
const vpolHeader = `apiVersion: policies.kyverno.io/v1
kind: ValidatingPolicy
metadata:
  name: case
spec:
  validationActions: [Deny]
  matchConstraints:
    resourceRules:
    - apiGroups: ["*"]
      apiVersions: ["*"]
      resources: ["*"]
      operations: [CREATE, UPDATE, DELETE]
`

// TestValidateValidatingPolicyMatchesKyverno checks the shared-environment validation against
// Kyverno's vpol.Validate, which builds its environment per call: the same warnings and the same
// error, on the repository's policies and on valid and invalid ones that use every section and
// Kyverno's CEL libraries.
func TestValidateValidatingPolicyMatchesKyverno(t *testing.T) {
	docs := map[string]string{
		"valid: libraries": vpolHeader + `  matchConditions:
  - name: ns
    expression: "has(request.namespace) && request.namespace in ['a', 'b']"
  - name: user
    expression: "request.userInfo.username.startsWith('x') && !('system:masters' in request.userInfo.groups)"
  validations:
  - expression: "object.metadata.name.size() < 64 && json.unmarshal('{}') == {} && yaml.parse('a: 1') != null"
    messageExpression: "'name ' + object.metadata.name + ' ' + string(math.ceil(1.5))"
  - expression: "image('nginx:1.0').registry() == 'docker.io' && time.now() != null"
    message: plain
  - expression: "namespaceObject == null || namespaceObject.metadata.name != ''"
  auditAnnotations:
  - key: who
    valueExpression: "request.userInfo.username"
`,
		"syntax error in a validation": vpolHeader + `  validations:
  - expression: "object.metadata.name =="
`,
		"syntax error in a match condition": vpolHeader + `  matchConditions:
  - name: bad
    expression: "request.namespace in ["
  validations:
  - expression: "false"
`,
		"match condition not a bool": vpolHeader + `  matchConditions:
  - name: str
    expression: "'yes'"
  validations:
  - expression: "false"
`,
		"a validation not a bool": vpolHeader + `  validations:
  - expression: "'false'"
`,
		"second validation fails": vpolHeader + `  validations:
  - expression: "true"
  - expression: "undeclared.field == 1"
`,
		"message expression not a string": vpolHeader + `  validations:
  - expression: "false"
    messageExpression: "1"
`,
		"unknown function": vpolHeader + `  validations:
  - expression: "nosuchfunction(object)"
`,
		"audit annotation not a string": vpolHeader + `  validations:
  - expression: "true"
  auditAnnotations:
  - key: k
    valueExpression: "1 + 1"
`,
		"no matchConstraints and a CEL error": `apiVersion: policies.kyverno.io/v1
kind: ValidatingPolicy
metadata:
  name: case
spec:
  validations:
  - expression: "object.metadata.name =="
`,
		"no resource rules": `apiVersion: policies.kyverno.io/v1
kind: ValidatingPolicy
metadata:
  name: case
spec:
  matchConstraints: {}
  validations:
  - expression: "true"
`,
		"variables (Kyverno's own path)": vpolHeader + `  variables:
  - name: who
    expression: "request.userInfo.username"
  validations:
  - expression: "variables.who != 'x'"
  - expression: "variables.nobody != 'x'"
`,
		"namespaced (Kyverno's own path)": strings.Replace(vpolHeader, "  name: case\n", "  name: case\n  namespace: team\n", 1) + `  validations:
  - expression: "http.Get('http://x') != null"
`,
	}
	var files []string
	for _, glob := range []string{"testdata/*.yaml", "../testdata/deploy/*/policies/*.yaml", "../../policies/*.yaml"} {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	vpolKind := regexp.MustCompile(`(?m)^kind: ValidatingPolicy$`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if vpolKind.Match(b) {
			docs[f] = string(b)
		}
	}
	if len(docs) < 16 {
		t.Fatalf("only %d policies to compare; the repository's generated policies were not found", len(docs))
	}
	invalid := 0
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			var a, b policiesv1beta1.ValidatingPolicy
			if err := decodeStrict([]byte(doc), &a); err != nil {
				t.Fatal(err)
			}
			if err := decodeStrict([]byte(doc), &b); err != nil {
				t.Fatal(err)
			}
			wantWarnings, wantErr := vpolvalidation.Validate(&a)
			gotWarnings, gotErr := validateValidatingPolicy(&b)
			if !reflect.DeepEqual(gotWarnings, wantWarnings) {
				t.Errorf("warnings = %q, Kyverno's = %q", gotWarnings, wantWarnings)
			}
			if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
				t.Errorf("error = %v\nKyverno's = %v", gotErr, wantErr)
			}
			if strings.HasPrefix(name, "valid") || strings.HasSuffix(name, ".yaml") {
				if wantErr != nil {
					t.Errorf("Kyverno rejects a policy this test expects to be valid: %v", wantErr)
				}
			} else if wantErr == nil {
				t.Errorf("Kyverno accepts a policy this test expects to be invalid")
			} else {
				invalid++
			}
		})
	}
	if invalid < 12 {
		t.Errorf("%d invalid cases were rejected, want 12", invalid)
	}

	// The copied environment is Kyverno v1.19.1's: an upgrade must re-check vpolvalidate.go.
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\s*github\.com/kyverno/kyverno v1\.19\.1$`).Match(mod) {
		t.Errorf("go.mod no longer requires github.com/kyverno/kyverno v1.19.1: compare baseVpolEnv with pkg/cel/policies/vpol/compiler.createBaseVpolEnv of the new version, then update this check")
	}
}

// TestValidateValidatingPolicyConcurrent validates in parallel with the shared environment (run with
// -race to check that nothing writes to it).
func TestValidateValidatingPolicyConcurrent(t *testing.T) {
	doc := vpolHeader + `  matchConditions:
  - name: ns
    expression: "request.namespace in ['a']"
  validations:
  - expression: "false"
    message: denied
`
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			var p policiesv1beta1.ValidatingPolicy
			if err := decodeStrict([]byte(doc), &p); err != nil {
				t.Error(err)
				return
			}
			if _, err := validateValidatingPolicy(&p); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
