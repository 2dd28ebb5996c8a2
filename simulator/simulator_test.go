package simulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"guardrail.dev/guardrail/compiler"
	"guardrail.dev/guardrail/compiler/load"
	"guardrail.dev/guardrail/simulator"
	"guardrail.dev/guardrail/simulator/report"
)

func compileRepo(t testing.TB) *compiler.Output {
	t.Helper()
	out, err := compiler.CompileRepository("..", compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func run(t *testing.T, feature string, format string) (*simulator.Result, string, error) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "t.feature")
	if err := os.WriteFile(p, []byte(feature), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := simulator.Run(context.Background(), simulator.Options{Features: []string{p}, Compiled: compileRepo(t), Format: format, Out: &out})
	return res, out.String(), err
}

// TestRepositoryFeatures runs features/ as the README's first command does: every scenario
// passes. 42 is counted by hand from the feature files (outlines count once per row).
func TestRepositoryFeatures(t *testing.T) {
	var out bytes.Buffer
	res, err := simulator.Run(context.Background(), simulator.Options{Features: []string{"../features"}, Compiled: compileRepo(t), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Scenarios != 42 || res.Summary.ScenariosFailed != 0 {
		t.Fatalf("summary %s\n%s", res.Summary, out.String())
	}
}

func TestUndefinedStepNamesFileLineAndSuggests(t *testing.T) {
	_, _, err := run(t, `Feature: x
  Scenario: typo
    Given the environment "dev"
    Given I am "alice@example.com" using permision set "Developer"
    When I list pods in namespace "app-payments"
    Then it is alowed
`, "")
	var input *simulator.InputError
	if !errors.As(err, &input) || len(input.Problems) != 2 {
		t.Fatalf("want two input problems, got %v", err)
	}
	if !strings.Contains(input.Problems[0], `t.feature:4: undefined step "I am \"alice@example.com\" using permision set \"Developer\""; did you mean one of:`) ||
		!strings.Contains(input.Problems[0], `Given I am "elon.musk@example.com" using permission set "Cell_Infra_Admin"`) {
		t.Errorf("problem 1: %s", input.Problems[0])
	}
	if !strings.Contains(input.Problems[1], `t.feature:6: undefined step "it is alowed"`) || !strings.Contains(input.Problems[1], "Then it is allowed") {
		t.Errorf("problem 2: %s", input.Problems[1])
	}
}

func TestUnknownEnvironment(t *testing.T) {
	_, _, err := run(t, "Feature: x\n  Scenario: y\n    Given the environment \"staging\"\n", "")
	var input *simulator.InputError
	if !errors.As(err, &input) || !strings.Contains(err.Error(), `t.feature:3: unknown environment "staging"; compiled: dev, prod`) {
		t.Fatalf("got %v", err)
	}
}

func TestSyntaxError(t *testing.T) {
	_, _, err := run(t, "Feature: x\n  Scenario: y\n    Given the environment \"dev\"\n      | a | b |\n      | c |\n", "")
	var input *simulator.InputError
	if !errors.As(err, &input) || len(input.Problems) != 1 || !strings.HasSuffix(input.Problems[0], "t.feature:5:7: syntax error: inconsistent cell count within the table") {
		t.Fatalf("want a syntax error naming the file and line 5, got %v", err)
	}
}

// failedSteps returns the error messages of failed steps in a cucumber report.
func failedSteps(t *testing.T, cucumber string) []string {
	t.Helper()
	fs, err := report.Parse([]byte(cucumber))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fs {
		for _, e := range f.Elements {
			for _, s := range e.Steps {
				if s.Result.Status == "failed" {
					out = append(out, s.Result.Error)
				}
			}
		}
	}
	return out
}

// TestWrongReasonFails: a scenario that expects a deny from a policy but is denied by RBAC
// fails and says both.
func TestWrongReasonFails(t *testing.T) {
	res, out, err := run(t, `Feature: x
  Scenario: wrong layer
    Given the environment "dev"
    Given I am "alice@example.com" using permission set "Developer"
    When I create configmap "c" in namespace "loki"
    Then it is denied by policy "guardrail-elon-cannot-touch-testnamespace"
`, simulator.FormatCucumber)
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.ScenariosFailed != 1 {
		t.Fatalf("summary %s", res.Summary)
	}
	msgs := failedSteps(t, out)
	if len(msgs) != 1 || !strings.Contains(msgs[0], `expected policy "guardrail-elon-cannot-touch-testnamespace" to deny the request, but it was denied by RBAC`) ||
		!strings.Contains(msgs[0], `cannot create resource "configmaps" in API group "" in the namespace "loki"`) {
		t.Errorf("message: %v", msgs)
	}
}

// TestPolicyThatDidNotApplyFails: the Kyverno CLI trap (#11519) — expecting a deny from a
// policy that matched nothing fails and says the policy did not apply.
func TestPolicyThatDidNotApplyFails(t *testing.T) {
	res, out, err := run(t, `Feature: x
  Scenario: trap
    Given the environment "prod"
    Given I am "grace.hopper@example.com" using permission set "Platform_Admin"
    When I delete configmap "ledger" in namespace "payments"
    Then it is denied by policy "guardrail-no-cluster-admin-in-payments"
`, simulator.FormatCucumber)
	if err != nil {
		t.Fatal(err)
	}
	msgs := failedSteps(t, out)
	if res.Summary.ScenariosFailed != 1 || len(msgs) != 1 || !strings.Contains(msgs[0], "but the policy did not apply: none of its rules matched this request; it was allowed") ||
		!strings.Contains(msgs[0], "access policy AmazonEKSClusterAdminPolicy") {
		t.Errorf("summary %s, messages %v", res.Summary, msgs)
	}
}

func TestReportsCarryExplanations(t *testing.T) {
	feature := `Feature: explained
  Scenario: elon
    Given the environment "dev"
    Given I am "elon.musk@example.com" using permission set "Cell_Infra_Admin"
    When I delete configmap "c" in namespace "testnamespace"
    Then it is denied by policy "guardrail-elon-cannot-touch-testnamespace"
`
	wantLines := []string{
		`identity: arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Cell_Infra_Admin_5678abcd/elon.musk@example.com → aws-auth mapRoles row for arn:aws:iam::123456789012:role/AWSReservedSSO_Cell_Infra_Admin_5678abcd → username "cell-infra-elon.musk-example.com", groups [system:masters, system:authenticated]`,
		`admission: ValidatingPolicy/guardrail-elon-cannot-touch-testnamespace denied (fail): The cluster-admin 'elon.musk@example.com' may not change anything in testnamespace.`,
	}
	for _, format := range []string{simulator.FormatPretty, simulator.FormatJUnit, simulator.FormatCucumber} {
		t.Run(format, func(t *testing.T) {
			_, out, err := run(t, feature, format)
			if err != nil {
				t.Fatal(err)
			}
			text := out
			switch format {
			case simulator.FormatJUnit:
				var v struct {
					Suites []struct {
						Cases []struct {
							SystemOut string `xml:"system-out"`
						} `xml:"testcase"`
					} `xml:"testsuite"`
				}
				if err := xml.Unmarshal([]byte(out), &v); err != nil {
					t.Fatal(err)
				}
				text = v.Suites[0].Cases[0].SystemOut
			case simulator.FormatCucumber:
				fs, err := report.Parse([]byte(out))
				if err != nil {
					t.Fatal(err)
				}
				text = strings.Join(fs[0].Elements[0].Steps[2].Explanation(), "\n")
				if !json.Valid([]byte(out)) {
					t.Fatal("invalid JSON")
				}
			}
			for _, l := range wantLines {
				if !strings.Contains(text, l) {
					t.Errorf("%s report lacks %q:\n%s", format, l, text)
				}
			}
		})
	}
}

func TestTagsSelectScenarios(t *testing.T) {
	var out bytes.Buffer
	res, err := simulator.Run(context.Background(), simulator.Options{Features: []string{"../features"}, Compiled: compileRepo(t), Out: &out, Tags: "@trap"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Scenarios != 2 {
		t.Fatalf("@trap selects the 2 scenarios of access-policy-trap.feature, got %s", res.Summary)
	}
}

// TestPreflightChecksArguments: arguments a scenario cannot run with are refused before
// anything runs, each with file:line.
func TestPreflightChecksArguments(t *testing.T) {
	_, _, err := run(t, `Feature: x
  Scenario Outline: bad arguments
    Given the environment "dev"
    Given I am "alice@example.com" using permission set "Developr"
    When I list widgets in namespace "default"
    When I get nodes "n1" in namespace "default"
    Then it is denied by policy "guardrail-no-such-thing"
    And policy "guardrail-elon-cannot-touch-testnamespce" does not apply
    Given I am "<person>" using permission set "Developer"

    Examples:
      | who |
      | x   |
`, "")
	var input *simulator.InputError
	if !errors.As(err, &input) {
		t.Fatalf("got %v", err)
	}
	want := []string{
		`t.feature:4 (Examples row at line 13): environment "dev" has no permission set "Developr"; it has: Cell_Infra_Admin, DevOps_Admin, Developer`,
		`t.feature:5 (Examples row at line 13): the server doesn't have a resource type "widgets" (name a kind such as ConfigMap, a resource such as configmaps or pods/exec, or qualify it: deployments.apps)`,
		`t.feature:6 (Examples row at line 13): nodes is cluster-scoped: remove ` + "`" + `in namespace "default"` + "`",
		`t.feature:7 (Examples row at line 13): environment "dev" has no policy "guardrail-no-such-thing"; it has: block-cluster-admin-from-ns, guardrail-elon-cannot-touch-testnamespace`,
		`t.feature:8 (Examples row at line 13): environment "dev" has no policy "guardrail-elon-cannot-touch-testnamespce"; it has: block-cluster-admin-from-ns, guardrail-elon-cannot-touch-testnamespace`,
		`t.feature:9 (Examples row at line 13): <person> in "I am \"<person>\" using permission set \"Developer\"" is not filled in: add a column person to the Examples table of the Scenario Outline`,
	}
	if len(input.Problems) != len(want) {
		t.Fatalf("problems:\n%s", strings.Join(input.Problems, "\n"))
	}
	for i, w := range want {
		if !strings.HasSuffix(input.Problems[i], w) {
			t.Errorf("problem %d:\n got %s\nwant …%s", i, input.Problems[i], w)
		}
	}
}

func TestNoEnvironmentWithSeveral(t *testing.T) {
	_, _, err := run(t, "Feature: x\n  Scenario: y\n    Given I am \"alice@example.com\" using permission set \"Developer\"\n", "")
	if err == nil || !strings.HasSuffix(err.Error(), `t.feature:3: no environment for "I am \"alice@example.com\" using permission set \"Developer\"": add Given the environment "<name>" (compiled: dev, prod), or run with --env`) {
		t.Fatalf("got %v", err)
	}
}

func TestNothingToRun(t *testing.T) {
	_, _, err := run(t, "Feature: empty\n", "")
	var input *simulator.InputError
	if !errors.As(err, &input) || !strings.Contains(err.Error(), "nothing to run: the feature files hold no scenario") {
		t.Fatalf("got %v", err)
	}
	_, err = simulator.Run(context.Background(), simulator.Options{Features: []string{"../features"}, Compiled: compileRepo(t), Out: &bytes.Buffer{}, Tags: "@nope"})
	if !errors.As(err, &input) || !strings.Contains(err.Error(), `no scenario matches --tags "@nope"`) {
		t.Fatalf("got %v", err)
	}
}

// TestExecGuardrail: a guardrail on kind Pod with CONNECT stops kubectl exec, which the API
// server admits as a CONNECT of pods/exec carrying PodExecOptions, in both policy kinds.
func TestExecGuardrail(t *testing.T) {
	env := `apiVersion: guardrail.dev/v1alpha1
kind: Environment
metadata: {name: ex}
spec:
  aws: {accountId: "123456789012", region: eu-west-1}
  cluster: {name: ex, authenticationMode: CONFIG_MAP}
  permissionSets:
  - {name: Admin, roleSuffix: abcd, awsAuth: {username: 'admin-{{SessionName}}', groups: [system:masters]}}
  teams:
  - {name: ops, permissionSets: [Admin], members: [ann@example.com]}
  namespaces: [{name: prod}]
  guardrails:
  - name: no-exec
    deny: {people: [ann@example.com], operations: [CONNECT], kinds: [Pod], namespaces: [prod]}
    message: no exec in prod
`
	feature := `Feature: exec
  Scenario: no exec
    Given the environment "ex"
    Given I am "ann@example.com" using permission set "Admin"
    When I create pods/exec "web" in namespace "prod"
    Then it is denied by policy "guardrail-no-exec"
    When I create pods "web" in namespace "prod"
    Then it is allowed
`
	dir := t.TempDir()
	p := filepath.Join(dir, "ex.feature")
	if err := os.WriteFile(p, []byte(feature), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"ValidatingPolicy", "ClusterPolicy"} {
		t.Run(kind, func(t *testing.T) {
			out, err := compiler.Compile([]load.Source{{Path: "ex.yaml", Data: []byte(env)}}, nil, compiler.Options{PolicyKind: kind})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			res, err := simulator.Run(context.Background(), simulator.Options{Features: []string{p}, Compiled: out, Out: &buf})
			if err != nil || res.Summary.ScenariosFailed != 0 {
				t.Fatalf("%v\n%s", err, buf.String())
			}
		})
	}
}

func TestCheckTags(t *testing.T) {
	for expr, want := range map[string]string{
		"":            "",
		"@guardrail":  "",
		"~@slow":      "",
		"@a && ~@b":   "",
		"@a,@b && @c": "",
		"@a &&":       "a term is empty",
		"&&":          "a term is empty",
		",":           "a term is empty",
		"@a,,@b":      "a term is empty",
		" ":           "is blank",
		"~":           `"~" is not a tag`,
		"(((":         `"(((" is not a tag`,
		"guardrail":   `"guardrail" is not a tag`,
		"@a && (@b)":  `"(@b)" is not a tag`,
		"@two words":  `"@two words" is not a tag`,
	} {
		err := simulator.CheckTags(expr)
		if want == "" {
			if err != nil {
				t.Errorf("CheckTags(%q) = %v, want nil", expr, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckTags(%q) = %v, want an error containing %q", expr, err, want)
		}
	}
}

// TestOneMistakeOneProblem: a step's doc string or table is checked before the run, and an
// unknown or misspelt environment step does not make every later step a problem too.
func TestOneMistakeOneProblem(t *testing.T) {
	cases := []struct{ name, steps, want string }{
		{"missing doc string", "    Given the environment \"dev\"\n    Given I am \"alice@example.com\" using permission set \"Developer\"\n    When I create this in namespace \"app-payments\":\n    Then it is allowed\n",
			`t.feature:5: step "I create this in namespace \"app-payments\":" needs a doc string: put the object on the lines after it, between two lines of """`},
		{"table where none is taken", "    Given the environment \"dev\"\n      | a |\n",
			`t.feature:3: step "the environment \"dev\"" takes no data table: remove the | rows under it`},
		{"unknown environment", "    Given the environment \"staging\"\n    Given I am \"elon.musk@example.com\" using permission set \"Cell_Infra_Admin\"\n    When I delete namespace \"testnamespace\"\n",
			`t.feature:3: unknown environment "staging"; compiled: dev, prod`},
		{"misspelt environment step", "    Given the enviroment \"dev\"\n    Given I am \"elon.musk@example.com\" using permission set \"Cell_Infra_Admin\"\n",
			`t.feature:3: undefined step "the enviroment \"dev\""`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := run(t, "Feature: x\n  Scenario: y\n"+c.steps, "")
			var input *simulator.InputError
			if !errors.As(err, &input) {
				t.Fatalf("got %v, want an InputError", err)
			}
			if len(input.Problems) != 1 || !strings.Contains(input.Problems[0], "/"+c.want) {
				t.Errorf("problems %q, want exactly one starting %q", input.Problems, c.want)
			}
		})
	}
}
