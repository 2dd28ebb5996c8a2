package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"guardrail.dev/guardrail/cmd/guardrail/cli"
	"guardrail.dev/guardrail/simulator/backend/kind"
)

const (
	envs     = "../../../environments"
	policies = "../../../policies"
	features = "../../../features"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Main(args, cli.Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVersion(t *testing.T) {
	code, out, errOut := run(t, "version")
	if code != 0 || errOut != "" || !regexp.MustCompile(`^guardrail v\S+( \(commit [0-9a-f]{12}\))? go1\.\S+ \w+/\w+\n$`).MatchString(out) {
		t.Errorf("code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestNoEnvironmentsHere: run outside a GitOps repository, validate says where it looked and
// what to do.
func TestNoEnvironmentsHere(t *testing.T) {
	t.Chdir(t.TempDir())
	code, out, errOut := run(t, "validate")
	if code != cli.ExitUsage || out != "" || errOut != "error: failed to read environments: there is no environments/ directory here: run guardrail from the root of the GitOps repository, or name the environment files\n" {
		t.Errorf("code %d stdout %q stderr %q", code, out, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args   []string
		stderr string
	}{
		{[]string{"frobnicate"}, "error: unknown command \"frobnicate\" for guardrail; run guardrail --help\n"},
		{[]string{"validate", "--bogus"}, "error: unknown flag: --bogus\nrun guardrail validate --help for usage\n"},
		{[]string{"validate", "no-such.yaml"}, "error: failed to read environments: stat no-such.yaml: no such file or directory\n"},
		{[]string{"compile", "--policy-kind", "Policy", envs}, "error: --policy-kind must be ValidatingPolicy or ClusterPolicy, not \"Policy\"\n"},
		{[]string{"version", "extra"}, "error: guardrail version takes no arguments, got [\"extra\"]\n"},
		{[]string{"whoami", "--environments", envs, "--env", "dev"}, "error: say who is asking: --user and --permission-set, --role-arn and --session, --as, or --service-account\n"},
		{[]string{"can-i", "get"}, "error: can-i takes VERB RESOURCE [NAME], got 1 arguments\n"},
		{[]string{"whoami", "--environments", envs, "--env", "dev", "--service-account", "a/b/c"}, "error: --service-account takes namespace/name, not \"a/b/c\"\n"},
		{[]string{"simulate", "--environments", envs, "--policies", policies, "--format", "xml", features}, "error: --format must be pretty, junit or cucumber, not \"xml\"\n"},
		{[]string{"compile", "--policies", "no-such-dir", envs}, "error: --policies no-such-dir: not a directory of Kyverno policies\n"},
		{[]string{"compile", "-o", "cli_test.go", envs}, "error: --output cli_test.go is not a directory: name a directory\n"},
		{[]string{"simulate", "--environments", envs, "--policies", policies, "--out", "/no/such/dir/r.xml", features}, "error: --out /no/such/dir/r.xml: the directory /no/such/dir does not exist\n"},
		{[]string{"simulate", "--concurrency", "0", features}, "error: --concurrency must be 1 or more, not 0\n"},
		{[]string{"simulate", "-q", "--format", "junit", features}, "error: -q shapes the pretty report; --format junit reports every scenario\n"},
		{[]string{"simulate", "cli_test.go"}, "error: cli_test.go is not a .feature file: name feature files or directories of them\n"},
		{[]string{"simulate", "--random-seed", "-1", features}, "error: --random-seed must be a positive seed (0 keeps file order), not -1\n"},
		{[]string{"simulate", "--keep", features}, "error: --keep is for --backend kind, not offline\n"},
		{[]string{"simulate", "--backend", "local", "--context", "x", features}, "error: --context is for --backend kubeconfig, not local\n"},
		{[]string{"simulate", "--backend", "kind", "--kyverno-manifest", "/no/such.yaml", features}, "error: --kyverno-manifest: stat /no/such.yaml: no such file or directory\n"},
		{[]string{"simulate", "--backend", "kubeconfig", "--kubeconfig", "/no/such/config", features}, "error: --kubeconfig: stat /no/such/config: no such file or directory\n"},
		{[]string{"simulate", "--environments", envs, "--policies", policies, "--tags", "@a &&", features}, "error: --tags \"@a &&\": a term is empty; godog tag expressions are terms @tag or ~@tag (not), joined by && (and) or , (or), without parentheses: for example \"@guardrail && ~@slow\"\n"},
	}
	for _, c := range cases {
		code, out, errOut := run(t, c.args...)
		if code != cli.ExitUsage || out != "" || !strings.HasSuffix(errOut, c.stderr) {
			t.Errorf("%v: code %d, stdout %q, stderr %q; want code 2 and stderr ending %q", c.args, code, out, errOut, c.stderr)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	p := write(t, "bad.yaml", `apiVersion: guardrail.dev/v1alpha1
kind: Environment
metadata: {name: bad}
spec:
  aws: {accountId: "1234", region: eu-west-1}
  cluster: {name: bad, authenticationMode: API}
  permissionSets:
  - {name: Admin, roleSuffix: ab, accessEntry: {groups: [system:masters]}}
`)
	code, out, errOut := run(t, "validate", p)
	want := p + `:5:20: error: spec.aws.accountId: "1234" is not a 12-digit account ID (an AWS account ID is exactly 12 digits)
` + p + `:8:58: error: spec.permissionSets[0].accessEntry.groups[0]: EKS rejects access entry groups that start with system: ("system:masters") (associate AmazonEKSClusterAdminPolicy with cluster scope instead)
error: 2 problems found
`
	if code != cli.ExitFailed || out != "" || errOut != want {
		t.Errorf("code %d\nstdout %q\nstderr %s\nwant   %s", code, out, errOut, want)
	}
}

func TestValidateRepository(t *testing.T) {
	code, _, errOut := run(t, "validate", envs)
	if code != 0 || !strings.Contains(errOut, "environments/dev.yaml: environment \"dev\" is valid\n") ||
		!strings.Contains(errOut, "prod.yaml:82:21: warning: spec.guardrails[2].deny.clusterRoles: permission set Platform_Admin gets its power from the EKS access policy AmazonEKSClusterAdminPolicy") {
		t.Errorf("code %d, stderr %s", code, errOut)
	}
	if code, _, errOut := run(t, "validate", "--strict", envs); code != cli.ExitFailed ||
		!strings.Contains(errOut, "prod.yaml:82:21: error: spec.guardrails[2].deny.clusterRoles: permission set Platform_Admin") || strings.Contains(errOut, "warning:") {
		t.Errorf("--strict: code %d, want 1 with the prod lint printed as an error; stderr %s", code, errOut)
	}
}

func TestCompileAndCheck(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "deploy")
	code, stdout, errOut := run(t, "compile", "-o", out, "--policies", policies, envs)
	if code != 0 || stdout != "" || !strings.Contains(errOut, "wrote "+out+"/dev (10 files)\n") || !strings.Contains(errOut, "wrote "+out+"/base (2 files)\n") {
		t.Fatalf("compile: code %d stdout %q stderr %q", code, stdout, errOut)
	}
	code, stdout, errOut = run(t, "compile", "--check", "-q", "-o", out, "--policies", policies, envs)
	if code != 0 || stdout != "" || errOut != "" {
		t.Fatalf("check of fresh output: code %d stdout %q stderr %q", code, stdout, errOut)
	}
	ns := filepath.Join(out, "dev", "namespaces.yaml")
	if err := os.WriteFile(ns, []byte("stale\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, errOut = run(t, "compile", "--check", "-q", "-o", out, "--policies", policies, envs)
	if code != cli.ExitFailed || !strings.Contains(stdout, "--- "+ns+"\t(on disk)\n+++ "+ns+"\t(compiled)\n") || !strings.Contains(stdout, "-stale\n") ||
		errOut != "error: "+out+" is out of date: run guardrail compile and commit the result\n" {
		t.Fatalf("check of stale output: code %d stdout %q stderr %q", code, stdout, errOut)
	}
	// The output of a removed environment is flagged.
	orphan := filepath.Join(out, "staging")
	for _, f := range []string{"kustomization.yaml", "rendered.yaml"} {
		if err := os.MkdirAll(orphan, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(orphan, f), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(ns, []byte("stale\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "compile", "-q", "-o", out, "--policies", policies, envs)
	code, _, errOut = run(t, "compile", "--check", "-q", "-o", out, "--policies", policies, envs)
	if code != cli.ExitFailed || !strings.Contains(errOut, "warning: "+orphan+": no environment produces it any more") ||
		!strings.HasSuffix(errOut, "error: "+out+" is out of date: delete "+orphan+" (no environment produces it) and commit the result\n") {
		t.Fatalf("orphan: code %d stderr %q", code, errOut)
	}
	if err := os.RemoveAll(orphan); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ns, []byte("stale\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An invalid environment leaves the output untouched.
	bad := write(t, "bad.yaml", "apiVersion: guardrail.dev/v1alpha1\nkind: Environment\nmetadata: {name: dev}\nspec: {}\n")
	if code, _, _ := run(t, "compile", "-o", out, "--policies", policies, bad); code != cli.ExitFailed {
		t.Fatalf("invalid input: code %d", code)
	}
	if b, _ := os.ReadFile(ns); string(b) != "stale\n" {
		t.Fatal("a failed compile changed the output directory")
	}
}

func TestWhoami(t *testing.T) {
	code, out, errOut := run(t, "whoami", "--environments", envs, "--policies", policies, "--env", "dev", "--user", "john.doe@example.com", "--permission-set", "DevOps_Admin")
	for _, want := range []string{
		"kind: SelfSubjectReview\n",
		"    username: devops-john.doe-example.com\n",
		"    groups:\n    - system:masters\n    - system:authenticated\n",
		"      canonicalArn:\n      - arn:aws:iam::123456789012:role/AWSReservedSSO_DevOps_Admin_1234abcd\n",
		"      sessionName:\n      - john.doe@example.com\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("whoami lacks %q:\n%s", want, out)
		}
	}
	if code != 0 || errOut != "" {
		t.Errorf("code %d stderr %q", code, errOut)
	}
	code, out, errOut = run(t, "whoami", "--environments", envs, "--policies", policies, "--env", "dev", "--role-arn", "arn:aws:iam::123456789012:role/intruder", "--session", "x1")
	if code != cli.ExitFailed || out != "" || errOut != "error: Unauthorized: no access entry and no aws-auth mapRoles row for arn:aws:iam::123456789012:role/intruder\n" {
		t.Errorf("unknown role: code %d stdout %q stderr %q", code, out, errOut)
	}
}

func TestCanI(t *testing.T) {
	elon := []string{"--environments", envs, "--policies", policies, "--env", "dev", "--user", "elon.musk@example.com", "--permission-set", "Cell_Infra_Admin"}
	if code, out, _ := run(t, append([]string{"can-i", "delete", "configmaps", "-n", "testnamespace"}, elon...)...); code != 0 || out != "yes\n" {
		t.Errorf("authorization only: code %d stdout %q, want yes (system:masters)", code, out)
	}
	code, out, _ := run(t, append([]string{"can-i", "delete", "configmaps", "-n", "testnamespace", "--admission", "--explain"}, elon...)...)
	if code != cli.ExitFailed || !strings.HasPrefix(out, "no\n") || !strings.Contains(out, "ValidatingPolicy/guardrail-elon-cannot-touch-testnamespace denied") {
		t.Errorf("with admission: code %d stdout %q", code, out)
	}
	alice := []string{"--environments", envs, "--policies", policies, "--env", "dev", "--user", "alice@example.com", "--permission-set", "Developer"}
	if code, out, _ := run(t, append([]string{"can-i", "get", "secrets", "-n", "app-other"}, alice...)...); code != cli.ExitFailed || out != "no\n" {
		t.Errorf("code %d stdout %q", code, out)
	}
	// Everything: only a wildcard grant (here system:masters) says yes; alice's namespace admin
	// role lists resources, so no.
	if code, out, _ := run(t, append([]string{"can-i", "*", "*", "-n", "loki"}, elon...)...); code != 0 || out != "yes\n" {
		t.Errorf("elon can-i * *: code %d stdout %q", code, out)
	}
	if code, out, _ := run(t, append([]string{"can-i", "*", "*", "-n", "app-payments"}, alice...)...); code != cli.ExitFailed || out != "no\n" {
		t.Errorf("alice can-i * *: code %d stdout %q", code, out)
	}
	if code, _, errOut := run(t, append([]string{"can-i", "list", "nodes", "-n", "loki"}, alice...)...); code != cli.ExitFailed || errOut != "Warning: resource 'nodes' is not namespace scoped\n" {
		t.Errorf("cluster-scoped with -n: code %d stderr %q", code, errOut)
	}
	// As kubectl: no -n is the namespace default; -A is cluster-wide.
	if _, out, _ := run(t, append([]string{"can-i", "list", "pods", "--explain"}, alice...)...); !strings.Contains(out, `cannot list resource "pods" in API group "" in the namespace "default"`) {
		t.Errorf("no -n: %s", out)
	}
	if _, out, _ := run(t, append([]string{"can-i", "list", "pods", "-A", "--explain"}, alice...)...); !strings.Contains(out, `cannot list resource "pods" in API group "" at the cluster scope`) {
		t.Errorf("-A: %s", out)
	}
}

// TestCanIList: kubectl auth can-i --list's table of the RBAC rules, then the access policies
// that such a list on EKS does not show.
func TestCanIList(t *testing.T) {
	alice := []string{"can-i", "--list", "-n", "app-payments", "--environments", envs, "--policies", policies, "--env", "dev", "--user", "alice@example.com", "--permission-set", "Developer"}
	code, out, errOut := run(t, alice...)
	if code != 0 {
		t.Fatalf("code %d stderr %q", code, errOut)
	}
	for _, want := range []string{
		`(?m)\AResources +Non-Resource URLs +Resource Names +Verbs$`,
		// alice's team binds the edit ClusterRole in app-payments: it writes secrets...
		`(?m)^secrets +\[\] +\[\] +\[get list watch create delete deletecollection patch update\]$`,
		// ...and every authenticated user may create self reviews and read /healthz.
		`(?m)^selfsubjectaccessreviews.authorization.k8s.io +\[\] +\[\] +\[create\]$`,
		`(?m)^ +\[/healthz\] +\[\] +\[get\]$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("stdout lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "rbac.authorization.k8s.io") {
		t.Errorf("edit grants no RBAC objects, but the list has some:\n%s", out)
	}
	if errOut != "Note: EKS access policies also apply here, which kubectl auth can-i --list does not show: AmazonEKSViewPolicy (namespace: app-*)\n" {
		t.Errorf("stderr %q", errOut)
	}
	code, out, _ = run(t, "can-i", "--list", "--environments", envs, "--policies", policies, "--env", "dev", "--user", "elon.musk@example.com", "--permission-set", "Cell_Infra_Admin")
	if code != 0 || !regexp.MustCompile(`(?m)^\*\.\* +\[\] +\[\] +\[\*\]$`).MatchString(out) {
		t.Errorf("system:masters: code %d stdout %s", code, out)
	}
	if code, _, errOut := run(t, "can-i", "--list", "get", "pods", "--environments", envs, "--env", "dev", "--user", "a@example.com", "--permission-set", "Developer"); code != cli.ExitUsage || errOut != "error: can-i --list takes no VERB or RESOURCE, got [\"get\" \"pods\"]\n" {
		t.Errorf("--list with arguments: code %d stderr %q", code, errOut)
	}
}

func TestSimulateExitCodes(t *testing.T) {
	src := []string{"--environments", envs, "--policies", policies}
	if code, out, errOut := run(t, append([]string{"simulate"}, append(src, features)...)...); code != 0 || !strings.Contains(out, "42 scenarios (42 passed, 0 failed)") {
		t.Errorf("repository features: code %d stderr %q tail %q", code, errOut, out[max(0, len(out)-200):])
	}
	failing := write(t, "f.feature", "Feature: f\n  Scenario: s\n    Given the environment \"dev\"\n    Given I am \"alice@example.com\" using permission set \"Developer\"\n    When I delete namespaces \"loki\"\n    Then it is allowed\n")
	if code, out, _ := run(t, append([]string{"simulate"}, append(src, failing)...)...); code != cli.ExitFailed || !strings.Contains(out, "1 scenarios (0 passed, 1 failed)") {
		t.Errorf("failing feature: code %d stdout %q", code, out)
	}
	// -q: only what failed, then the summary.
	if code, out, _ := run(t, append([]string{"simulate", "-q"}, append(src, features)...)...); code != 0 || !strings.HasPrefix(out, "42 scenarios (42 passed, 0 failed)") {
		t.Errorf("-q, all passing: code %d stdout %q", code, out)
	}
	if code, out, _ := run(t, append([]string{"simulate", "-q"}, append(src, features, failing)...)...); code != cli.ExitFailed ||
		!strings.HasPrefix(out, "Feature: f  # "+failing+":1\n") || strings.Count(out, "Scenario:") != 1 || !strings.Contains(out, "43 scenarios (42 passed, 1 failed)") {
		t.Errorf("-q, one failing: code %d stdout %q", code, out)
	}
	undefined := write(t, "u.feature", "Feature: u\n  Scenario: s\n    Given I was \"alice@example.com\"\n")
	code, out, errOut := run(t, append([]string{"simulate"}, append(src, undefined)...)...)
	if code != cli.ExitUsage || out != "" || !strings.HasPrefix(errOut, undefined+":3: undefined step \"I was \\\"alice@example.com\\\"\"; did you mean one of:\n") {
		t.Errorf("undefined step: code %d stdout %q stderr %q", code, out, errOut)
	}
	report := filepath.Join(t.TempDir(), "r.xml")
	if code, out, errOut := run(t, append([]string{"simulate", "--format", "junit", "--out", report, "--tags", "@trap"}, append(src, features)...)...); code != 0 || out != "" ||
		errOut != "2 scenarios (2 passed, 0 failed), 9 steps (9 passed, 0 failed, 0 skipped); report written to "+report+"\n" {
		t.Errorf("junit: code %d stdout %q stderr %q", code, out, errOut)
	}
	if b, err := os.ReadFile(report); err != nil || !bytes.Contains(b, []byte(`<testcase name="the admin&#39;s power comes from the access policy"`)) {
		t.Errorf("junit report: %v %s", err, b)
	}
}

// TestSimulateKindWithoutEngine: with no container engine, --backend kind fails at once with
// exit code 3 and says what is missing.
func TestSimulateKindWithoutEngine(t *testing.T) {
	if err := kind.Available(context.Background()); err == nil {
		t.Skip("a container engine answers here; the integration test of simulator/backend/kind covers it")
	}
	start := time.Now()
	code, out, errOut := run(t, "simulate", "--backend", "kind", "--environments", envs, "--policies", policies, features)
	if code != cli.ExitUnavailable || out != "" || !strings.HasPrefix(errOut, "error: no container engine: install Docker or Podman and start it") || time.Since(start) > 10*time.Second {
		t.Errorf("code %d stdout %q stderr %q after %s", code, out, errOut, time.Since(start))
	}
}
