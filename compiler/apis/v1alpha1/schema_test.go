package v1alpha1_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/invopop/jsonschema"

	"guardrail.dev/guardrail/compiler/apis/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite docs/environment.schema.json and docs/environment.md")

const pkgPath = "guardrail.dev/guardrail/compiler/apis/v1alpha1"

func reflector(t *testing.T) *jsonschema.Reflector {
	t.Helper()
	r := &jsonschema.Reflector{RequiredFromJSONSchemaTags: false}
	if err := r.AddGoComments(pkgPath, "."); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSchemaUpToDate fails when docs/environment.schema.json or docs/environment.md no longer
// match the Go types; run go test ./compiler/apis/... -update (make docs) to regenerate.
func TestSchemaUpToDate(t *testing.T) {
	r := reflector(t)
	s := r.Reflect(&v1alpha1.Environment{})
	s.ID = "https://guardrail.dev/schemas/environment-v1alpha1.json"
	s.Title = "guardrail Environment (guardrail.dev/v1alpha1)"
	schema, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	schema = append(schema, '\n')
	check(t, "../../../docs/environment.schema.json", schema)
	check(t, "../../../docs/environment.md", markdown(r.CommentMap))
}

func TestSchemaRejectsUnknownFields(t *testing.T) {
	s := reflector(t).Reflect(&v1alpha1.Environment{})
	def := s.Definitions["Environment"]
	if def == nil || def.AdditionalProperties == nil || def.AdditionalProperties != jsonschema.FalseSchema {
		t.Fatalf("Environment must forbid additional properties, got %#v", def)
	}
	if got := strings.Join(def.Required, ","); got != "apiVersion,kind,metadata,spec" {
		t.Fatalf("required = %s", got)
	}
}

func check(t *testing.T, path string, want []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run make docs (go test ./compiler/apis/... -update) and commit the result", path)
	}
}

// markdown documents every type reachable from Environment, one table per type.
func markdown(comments map[string]string) []byte {
	var b bytes.Buffer
	b.WriteString("# Environment file reference (guardrail.dev/v1alpha1)\n\n")
	b.WriteString("<!-- Generated from compiler/apis/v1alpha1/types.go by `make docs`. Do not edit. -->\n\n")
	b.WriteString("One file per environment under `environments/`. Unknown fields are errors. ")
	b.WriteString("Editors can validate files with [environment.schema.json](environment.schema.json), for example with the YAML language server:\n\n")
	b.WriteString("```yaml\n# yaml-language-server: $schema=../docs/environment.schema.json\n```\n\n")
	b.WriteString("The example environments are [environments/dev.yaml](../environments/dev.yaml) (the seed) and [environments/prod.yaml](../environments/prod.yaml).\n\n")
	seen := map[reflect.Type]bool{}
	queue := []reflect.Type{reflect.TypeOf(v1alpha1.Environment{})}
	for len(queue) > 0 {
		t := queue[0]
		queue = queue[1:]
		if seen[t] {
			continue
		}
		seen[t] = true
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", t.Name(), comments[pkgPath+"."+t.Name()])
		b.WriteString("| Field | Type | Required | Description |\n|---|---|---|---|\n")
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			required := "yes"
			if strings.Contains(opts, "omitempty") {
				required = ""
			}
			desc := strings.ReplaceAll(comments[pkgPath+"."+t.Name()+"."+f.Name], "\n", " ")
			desc = strings.ReplaceAll(desc, "|", "\\|")
			if enum := f.Tag.Get("jsonschema"); strings.Contains(enum, "enum=") {
				var vals []string
				for _, part := range strings.Split(enum, ",") {
					if v, ok := strings.CutPrefix(part, "enum="); ok {
						vals = append(vals, "`"+v+"`")
					}
				}
				desc += " One of " + strings.Join(vals, ", ") + "."
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", name, typeName(f.Type), required, desc)
			for _, inner := range structTypes(f.Type) {
				queue = append(queue, inner)
			}
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

func structTypes(t reflect.Type) []reflect.Type {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice:
		return structTypes(t.Elem())
	case reflect.Map:
		return structTypes(t.Elem())
	case reflect.Struct:
		return []reflect.Type{t}
	}
	return nil
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of " + typeName(t.Key()) + " to " + typeName(t.Elem())
	case reflect.Struct:
		return "[" + t.Name() + "](#" + strings.ToLower(t.Name()) + ")"
	}
	return t.Kind().String()
}
