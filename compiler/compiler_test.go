package compiler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"
	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"guardrail.dev/guardrail/compiler"
	"guardrail.dev/guardrail/compiler/emit"
	"guardrail.dev/guardrail/compiler/kyverno"
	"guardrail.dev/guardrail/compiler/load"
)

func sources(t testing.TB, paths ...string) []load.Source {
	t.Helper()
	src, err := load.ReadPaths(paths)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func library(t testing.TB) []load.Source {
	t.Helper()
	lib, err := compiler.ReadLibrary("../policies")
	if err != nil {
		t.Fatal(err)
	}
	return lib
}

func compileRepo(t testing.TB, kind string) *compiler.Output {
	t.Helper()
	out, err := compiler.Compile(sources(t, "../environments"), library(t), compiler.Options{PolicyKind: kind})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var update = flag.Bool("update", false, "rewrite testdata/deploy from the repository's environments")

// TestGolden is the golden test of every output file: testdata/deploy holds what the
// repository's environments and policies compile to, reviewed by hand when it changes. After a
// deliberate change, run go test ./compiler/ -run TestGolden -update (make golden) and review the
// diff; the seed's values are also checked by hand in the tests below.
func TestGolden(t *testing.T) {
	out := compileRepo(t, "")
	if *update {
		if err := compiler.Write("testdata/deploy", out); err != nil {
			t.Fatal(err)
		}
		return
	}
	diff, err := compiler.Diff("testdata/deploy", out)
	if err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Errorf("testdata/deploy is stale; run make golden and review:\n%s", diff)
	}
}

func TestCompileIsByteStable(t *testing.T) {
	a := compileRepo(t, "")
	// Reverse the input order: output must not depend on it.
	src := sources(t, "../environments")
	for i, j := 0, len(src)-1; i < j; i, j = i+1, j-1 {
		src[i], src[j] = src[j], src[i]
	}
	lib := library(t)
	b, err := compiler.Compile(src, lib, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Files, b.Files) || !reflect.DeepEqual(a.Dirs, b.Dirs) {
		t.Fatal("two compilations of the same input differ")
	}
}

func file(t *testing.T, out *compiler.Output, path string) []byte {
	t.Helper()
	b, ok := out.Files[path]
	if !ok {
		t.Fatalf("no output file %s; have %v", path, out.Files.Paths())
	}
	return b
}

func decodeStrict(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("not the SDK input shape: %v", err)
	}
}

const (
	devRoleDeveloper = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/ap-northeast-2/AWSReservedSSO_Developer_0123456789abcdef"
)

// TestSeedEKSRequests checks the seed's EKS requests against values worked out by hand from
// eks-facts: the access entry names the role ARN with its Identity Center path.
func TestSeedEKSRequests(t *testing.T) {
	out := compileRepo(t, "")
	var entries []eks.CreateAccessEntryInput
	decodeStrict(t, file(t, out, "dev/eks/access-entries.json"), &entries)
	wantEntries := []eks.CreateAccessEntryInput{{
		ClusterName: aws.String("dev"), PrincipalArn: aws.String(devRoleDeveloper), Type: aws.String("STANDARD"),
		Username: aws.String("dev:{{SessionName}}"), KubernetesGroups: []string{"developers"},
	}}
	if !reflect.DeepEqual(entries, wantEntries) {
		t.Errorf("access entries = %+v", entries)
	}
	var assoc []eks.AssociateAccessPolicyInput
	decodeStrict(t, file(t, out, "dev/eks/access-policy-associations.json"), &assoc)
	wantAssoc := []eks.AssociateAccessPolicyInput{{
		ClusterName: aws.String("dev"), PrincipalArn: aws.String(devRoleDeveloper),
		PolicyArn:   aws.String("arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"),
		AccessScope: &types.AccessScope{Type: types.AccessScopeTypeNamespace, Namespaces: []string{"app-*"}},
	}}
	if !reflect.DeepEqual(assoc, wantAssoc) {
		t.Errorf("policy associations = %+v", assoc)
	}
	var pods []eks.CreatePodIdentityAssociationInput
	decodeStrict(t, file(t, out, "dev/eks/pod-identity-associations.json"), &pods)
	wantPods := []eks.CreatePodIdentityAssociationInput{{
		ClusterName: aws.String("dev"), Namespace: aws.String("loki"), ServiceAccount: aws.String("loki"),
		RoleArn: aws.String("arn:aws:iam::123456789012:role/loki"), Tags: map[string]string{"Environment": "dev"},
	}}
	if !reflect.DeepEqual(pods, wantPods) {
		t.Errorf("pod identity associations = %+v", pods)
	}
	// prod: the target role and both permission sets' policies, sorted by principal then policy.
	decodeStrict(t, file(t, out, "prod/eks/pod-identity-associations.json"), &pods)
	if len(pods) != 1 || aws.ToString(pods[0].TargetRoleArn) != "arn:aws:iam::333344445555:role/ledger-data" {
		t.Errorf("prod pod identity associations = %+v", pods)
	}
	decodeStrict(t, file(t, out, "prod/eks/access-policy-associations.json"), &assoc)
	var got []string
	for _, a := range assoc {
		got = append(got, filepath.Base(*a.PrincipalArn)+" "+filepath.Base(*a.PolicyArn)+" "+string(a.AccessScope.Type))
	}
	want := []string{
		"AWSReservedSSO_Developer_9f8e7d6c5b4a3928 AmazonEKSViewPolicy namespace",
		"AWSReservedSSO_Platform_Admin_a1b2c3d4e5f60718 AmazonEKSClusterAdminPolicy cluster",
		"AWSReservedSSO_ReadOnly_0011223344556677 AmazonEKSAdminViewPolicy cluster",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("prod associations = %q, want %q", got, want)
	}
	if _, ok := out.Files["prod/aws-auth.yaml"]; ok {
		t.Error("an API-mode cluster got an aws-auth ConfigMap")
	}
}

// TestSeedAWSAuth: aws-auth rows carry the path-less role ARN (aws-iam-authenticator compares
// the canonical ARN of the STS session, which has no path).
func TestSeedAWSAuth(t *testing.T) {
	var cm struct {
		Metadata struct{ Name, Namespace string }
		Data     struct {
			MapRoles string `json:"mapRoles"`
		}
	}
	if err := yaml.Unmarshal(file(t, compileRepo(t, ""), "dev/aws-auth.yaml"), &cm); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data.MapRoles), &rows); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"rolearn": "arn:aws:iam::123456789012:role/AWSReservedSSO_Cell_Infra_Admin_5678abcd", "username": "cell-infra-{{SessionName}}", "groups": []any{"system:masters"}},
		{"rolearn": "arn:aws:iam::123456789012:role/AWSReservedSSO_DevOps_Admin_1234abcd", "username": "devops-{{SessionName}}", "groups": []any{"system:masters"}},
	}
	if cm.Metadata.Name != "aws-auth" || cm.Metadata.Namespace != "kube-system" || !reflect.DeepEqual(rows, want) {
		t.Errorf("aws-auth = %+v rows %+v", cm.Metadata, rows)
	}
}

// TestSeedRendered lists the objects of the rendered overlay, worked out from dev.yaml by hand.
func TestSeedRendered(t *testing.T) {
	out := compileRepo(t, "")
	var got []string
	for _, doc := range strings.Split(string(file(t, out, "dev/rendered.yaml")), "\n---\n") {
		var o struct {
			Kind     string
			Metadata struct{ Name, Namespace string }
		}
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatal(err)
		}
		got = append(got, o.Kind+" "+o.Metadata.Namespace+"/"+o.Metadata.Name)
	}
	sort.Strings(got)
	want := []string{
		"ClusterPolicy /block-cluster-admin-from-ns",
		"Namespace /app-payments",
		"Namespace /loki",
		"Namespace /testnamespace",
		"RoleBinding app-payments/team:payments:edit",
		"ServiceAccount loki/loki",
		"ValidatingPolicy /guardrail-elon-cannot-touch-testnamespace",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rendered objects:\n got %q\nwant %q", got, want)
	}
}

// seedRBAC is what a cluster holds for the seed's admins: the bootstrap binding of
// system:masters to cluster-admin, through which Kyverno computes clusterRoles.
var seedRBAC = kyverno.RBAC{ClusterRoleBindings: []rbacv1.ClusterRoleBinding{{
	ObjectMeta: metav1ObjectMeta("cluster-admin"),
	RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
	Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: "system:masters"}},
}}}

func policiesOf(t *testing.T, out *compiler.Output, dir string) []*kyverno.Policy {
	t.Helper()
	var ps []*kyverno.Policy
	for _, p := range out.Files.Paths() {
		if strings.HasPrefix(p, dir) && strings.HasSuffix(p, ".yaml") && p != dir+"kustomization.yaml" {
			pol, err := kyverno.ParsePolicy(out.Files[p])
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			ps = append(ps, pol)
		}
	}
	return ps
}

func configMap(ns string) []byte {
	return []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","namespace":"` + ns + `"}}`)
}

func request(op, ns, user string, groups ...string) kyverno.Request {
	r := kyverno.Request{
		Operation: op, Namespace: ns, Name: "cm",
		Kind:     schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
		Resource: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"},
		UserInfo: authenticationv1.UserInfo{Username: user, Groups: append(groups, "system:authenticated")},
	}
	switch op {
	case "CREATE":
		r.Object = configMap(ns)
	case "UPDATE":
		r.Object, r.OldObject = configMap(ns), configMap(ns)
	case "DELETE":
		r.OldObject = configMap(ns)
	}
	return r
}

// TestSeedGuardrailDeniesExactlyElon evaluates the compiled guardrail, in both policy kinds,
// with the real Kyverno engine: it denies cell-infra-elon.musk-example.com and nobody else.
func TestSeedGuardrailDeniesExactlyElon(t *testing.T) {
	for _, kind := range []string{emit.ValidatingPolicy, emit.ClusterPolicy} {
		t.Run(kind, func(t *testing.T) {
			out := compileRepo(t, kind)
			pols := policiesOf(t, out, "dev/policies/")
			if len(pols) != 1 || pols[0].Kind != kind || pols[0].Name != "guardrail-elon-cannot-touch-testnamespace" {
				t.Fatalf("policies = %v", pols)
			}
			eng, err := kyverno.NewEngine(pols, kyverno.Config{})
			if err != nil {
				t.Fatal(err)
			}
			elon, john := "cell-infra-elon.musk-example.com", "devops-john.doe-example.com"
			cases := []struct {
				req  kyverno.Request
				deny bool
			}{
				{request("CREATE", "testnamespace", elon, "system:masters"), true},
				{request("UPDATE", "testnamespace", elon, "system:masters"), true},
				{request("DELETE", "testnamespace", elon, "system:masters"), true},
				{request("CREATE", "loki", elon, "system:masters"), false},
				{request("CREATE", "testnamespace", john, "system:masters"), false},
				{request("DELETE", "testnamespace", "cell-infra-elon.musk-example.co", "system:masters"), false},
			}
			for _, c := range cases {
				v, err := eng.Evaluate(context.Background(), c.req, seedRBAC)
				if err != nil {
					t.Fatal(err)
				}
				if v.Allowed == c.deny {
					t.Errorf("%s %s by %s: allowed=%v, want %v (%+v)", c.req.Operation, c.req.Namespace, c.req.UserInfo.Username, v.Allowed, !c.deny, v)
				}
				if c.deny && (len(v.Results) != 1 || v.Results[0].Message != "The cluster-admin 'elon.musk@example.com' may not change anything in testnamespace.") {
					t.Errorf("results = %+v", v.Results)
				}
			}
		})
	}
}

// TestSeedLibraryPolicy: the hand-written ClusterPolicy of policies/ blocks the cluster-admin
// elon through his system:masters group's cluster-admin binding.
func TestSeedLibraryPolicy(t *testing.T) {
	pols := policiesOf(t, compileRepo(t, ""), "base/")
	eng, err := kyverno.NewEngine(pols, kyverno.Config{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := eng.Evaluate(context.Background(), request("DELETE", "testnamespace", "cell-infra-elon.musk-example.com", "system:masters"), seedRBAC)
	if err != nil {
		t.Fatal(err)
	}
	if v.Allowed || len(v.Results) != 1 || v.Results[0].Policy != "block-cluster-admin-from-ns" {
		t.Errorf("verdict = %+v", v)
	}
	v, _ = eng.Evaluate(context.Background(), request("DELETE", "testnamespace", "cell-infra-elon.musk-example.com"), kyverno.RBAC{})
	if !v.Allowed {
		t.Errorf("without cluster-admin the library policy must not apply: %+v", v)
	}
}

// TestEscaping: quotes, backslashes and template-looking text in names and messages reach
// Kyverno as data, never as syntax.
func TestEscaping(t *testing.T) {
	env := `apiVersion: guardrail.dev/v1alpha1
kind: Environment
metadata: {name: esc}
spec:
  aws: {accountId: "123456789012", region: eu-west-1}
  cluster: {name: esc, authenticationMode: CONFIG_MAP}
  permissionSets:
  - name: Odd
    roleSuffix: abcd
    awsAuth: {username: 'it''s "q" \ ]) || true-{{SessionName}}'}
  teams:
  - {name: odd, permissionSets: [Odd], members: [o.brien@example.com]}
  namespaces: [{name: ns1}]
  guardrails:
  - name: odd
    deny: {people: [o.brien@example.com], operations: [CREATE], namespaces: [ns1]}
    message: 'no {{ request.object.metadata.name }} for "you" \ it''s ]) $(x) final'
`
	user := `it's "q" \ ]) || true-o.brien-example.com`
	for _, kind := range []string{emit.ValidatingPolicy, emit.ClusterPolicy} {
		t.Run(kind, func(t *testing.T) {
			out, err := compiler.Compile([]load.Source{{Path: "esc.yaml", Data: []byte(env)}}, nil, compiler.Options{PolicyKind: kind})
			if err != nil {
				t.Fatal(err)
			}
			eng, err := kyverno.NewEngine(policiesOf(t, out, "esc/policies/"), kyverno.Config{})
			if err != nil {
				t.Fatal(err)
			}
			v, err := eng.Evaluate(context.Background(), request("CREATE", "ns1", user), kyverno.RBAC{})
			if err != nil {
				t.Fatal(err)
			}
			wantMsg := `no {{ request.object.metadata.name }} for "you" \ it's ]) $(x) final`
			if v.Allowed || len(v.Results) != 1 || v.Results[0].Message != wantMsg {
				t.Errorf("verdict = %+v, want a deny with message %q", v, wantMsg)
			}
			v, _ = eng.Evaluate(context.Background(), request("CREATE", "ns1", "someone-else"), kyverno.RBAC{})
			if !v.Allowed {
				t.Errorf("someone else was denied: %+v", v)
			}
		})
	}
}

func TestLibraryPolicyRejectedByKyverno(t *testing.T) {
	bad := strings.Replace(string(library(t)[0].Data), "background: false", "background: true", 1)
	_, err := compiler.Compile(sources(t, "../environments/dev.yaml"), []load.Source{{Path: "policies/bad.yaml", Data: []byte(bad)}}, compiler.Options{})
	var perr *compiler.PolicyError
	if !errors.As(err, &perr) || perr.Source != "policies/bad.yaml" || !strings.Contains(err.Error(), "background") {
		t.Fatalf("want a PolicyError naming policies/bad.yaml and background mode, got %v", err)
	}
	// The error names the field Kyverno's message points at (spec/rules[0]/match/any[0]/
	// clusterRoles: the key on line 28, column 9, of the policy file), counted from the start
	// of the file: in a second document, after the good policy's lines, the separator and a
	// comment line.
	if want := "policies/bad.yaml:28:9: ClusterPolicy/block-cluster-admin-from-ns: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want it to start %q", err, want)
	}
	// A ValidatingPolicy's CEL error names spec.validations[0].expression: line 14, column 5.
	vpol := "apiVersion: policies.kyverno.io/v1\nkind: ValidatingPolicy\nmetadata:\n  name: v\nspec:\n  validationActions: [Deny]\n" +
		"  matchConstraints:\n    resourceRules:\n    - apiGroups: [\"\"]\n      apiVersions: [v1]\n      resources: [configmaps]\n      operations: [CREATE]\n" +
		"  validations:\n  - expression: \"object.metadata.name ==\"\n"
	_, err = compiler.Compile(sources(t, "../environments/dev.yaml"), []load.Source{{Path: "policies/v.yaml", Data: []byte(vpol)}}, compiler.Options{})
	if want := "policies/v.yaml:14:5: ValidatingPolicy/v: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want it to start %q", err, want)
	}
	good := string(library(t)[0].Data)
	two := good + "---\n# the broken one\n" + bad
	_, err = compiler.Compile(sources(t, "../environments/dev.yaml"), []load.Source{{Path: "policies/two.yaml", Data: []byte(two)}}, compiler.Options{})
	want := fmt.Sprintf("policies/two.yaml:%d:9: ClusterPolicy/block-cluster-admin-from-ns: ", strings.Count(good, "\n")+1+1+28)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("two documents: got %v, want it to start %q", err, want)
	}
}

func TestInvalidInputIsReportedWhole(t *testing.T) {
	bad := strings.Replace(strings.Replace(string(sources(t, "../environments/dev.yaml")[0].Data),
		"roleSuffix: 1234abcd", "roleSufix: 1234abcd", 1), "region: ap-northeast-2", "regin: x", 1)
	_, err := compiler.Compile([]load.Source{{Path: "dev.yaml", Data: []byte(bad)}}, nil, compiler.Options{})
	var invalid *load.InvalidError
	if !errors.As(err, &invalid) || len(invalid.Diagnostics) != 2 {
		t.Fatalf("want both problems, got %v", err)
	}
}

func TestWriteReplacesWholeDirectoriesAndCheckSeesDrift(t *testing.T) {
	dir := t.TempDir()
	out := compileRepo(t, "")
	if err := compiler.Write(dir, out); err != nil {
		t.Fatal(err)
	}
	// What an earlier compile wrote for a guardrail since removed: the policy and its line in
	// the listing; and a file outside the compiled directories.
	stale := filepath.Join(dir, "dev", "policies", "old.yaml")
	keep := filepath.Join(dir, "README.md")
	for _, p := range []string{stale, keep} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	listing := filepath.Join(dir, "dev", compiler.ListingFile)
	b, err := os.ReadFile(listing)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(listing, append(b, "policies/old.yaml\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if d, _ := compiler.Diff(dir, out); !strings.Contains(d, "--- "+filepath.ToSlash(stale)+"\t(on disk)\n+++ /dev/null\n") {
		t.Errorf("diff does not report the stale file:\n%s", d)
	}
	if err := compiler.Write(dir, out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("stale file survived")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Error("a file outside the compiled directories was removed")
	}
	if d, err := compiler.Diff(dir, out); err != nil || d != "" {
		t.Errorf("after Write, Diff = %q, %v", d, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".guardrail-") {
			t.Errorf("staging directory %s left behind", e.Name())
		}
	}
	p := filepath.Join(dir, "dev", "namespaces.yaml")
	if err := os.WriteFile(p, []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, _ := compiler.Diff(dir, out)
	if !strings.Contains(d, "-changed\n") || !strings.Contains(d, "+kind: Namespace\n") {
		t.Errorf("diff does not show the change:\n%s", d)
	}
}

// TestWriteFailureLeavesOldTree: when a directory cannot be swapped in, the swaps already
// done are undone and the old tree is intact.
func TestWriteFailureLeavesOldTree(t *testing.T) {
	dir := t.TempDir()
	out := compileRepo(t, "")
	if err := compiler.Write(dir, out); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "base", "kustomization.yaml"))
	// An output with an extra directory whose target path is a file Write cannot replace
	// (its parent is a file), after base and dev have been swapped.
	broken := *out
	broken.Files = emit.Files{}
	for k, v := range out.Files {
		broken.Files[k] = v
	}
	broken.Files["zz/x"] = []byte("x")
	broken.Files["base/kustomization.yaml"] = []byte("new")
	broken.Dirs = append(append([]string(nil), out.Dirs...), "zz/sub")
	if err := compiler.Write(dir, &broken); err == nil {
		t.Fatal("want an error")
	}
	after, _ := os.ReadFile(filepath.Join(dir, "base", "kustomization.yaml"))
	if !bytes.Equal(before, after) {
		t.Errorf("base was changed by a failed write: %q", after)
	}
}

// TestWriteRefusesForeignDirectories: compile replaces whole directories, so it must not
// replace one it did not write (no listing), nor one where files were added after it wrote it
// (not in its listing); nothing is written then, and --check (Diff) refuses the same way.
func TestWriteRefusesForeignDirectories(t *testing.T) {
	out := compileRepo(t, "")
	tests := []struct {
		name     string
		compiled bool   // compile into the directory first
		file     string // then add this, relative to the output directory; a trailing / makes a directory
		problem  string // what the error must say
	}{
		{"a hand-written kustomize base", false, "base/deployment.yaml", "out/base was not written by guardrail compile (it has no .guardrail listing)"},
		{"a hand-written overlay named like an environment", false, "dev/kustomization.yaml", "out/dev was not written by guardrail compile"},
		{"a note added to an environment", true, "dev/notes.md", "out/dev holds notes.md, which guardrail compile did not write"},
		{"a policy added by hand", true, "dev/policies/mine.yaml", "out/dev holds policies/mine.yaml, which"},
		{"a request added by hand", true, "prod/eks/other.json", "out/prod holds eks/other.json, which"},
		{"a library-looking file added to base", true, "base/deployment.yaml", "out/base holds deployment.yaml, which"},
		{"a file where a directory goes", false, "dev", "out/dev exists and is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if tt.compiled {
				if err := compiler.Write(dir, out); err != nil {
					t.Fatal(err)
				}
			}
			p := filepath.Join(dir, filepath.FromSlash(tt.file))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("mine\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			before := snapshotDir(t, dir)
			for name, op := range map[string]func() error{
				"Write": func() error { return compiler.Write(dir, out) },
				"Diff":  func() error { _, err := compiler.Diff(dir, out); return err },
			} {
				err := op()
				var oe *compiler.OutputError
				if !errors.As(err, &oe) || !strings.Contains(filepath.ToSlash(err.Error()), tt.problem) {
					t.Errorf("%s = %v, want an *OutputError containing %q", name, err, tt.problem)
				}
			}
			if after := snapshotDir(t, dir); !reflect.DeepEqual(before, after) {
				t.Errorf("the refused Write changed the directory")
			}
		})
	}
	// The output directory itself a file.
	f := filepath.Join(t.TempDir(), "deploy")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := compiler.Write(f, out); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("Write(a file) = %v", err)
	}
}

// snapshotDir maps every file under dir to its content.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			b, _ := os.ReadFile(p)
			m[p] = string(b)
		}
		return nil
	})
	return m
}

// TestOwnedAcceptsEverythingCompileWrites: every file of a compiled output, the large
// environment's included, is one Owned recognises, so recompiling over it is allowed.
func TestOwnedAcceptsEverythingCompileWrites(t *testing.T) {
	for _, out := range []*compiler.Output{compileRepo(t, ""), compileRepo(t, emit.ClusterPolicy)} {
		dir := t.TempDir()
		if err := compiler.Write(dir, out); err != nil {
			t.Fatal(err)
		}
		for _, d := range out.Dirs {
			if err := compiler.Owned(filepath.Join(dir, d)); err != nil {
				t.Errorf("Owned(%s) = %v", d, err)
			}
		}
		if err := compiler.Write(dir, out); err != nil {
			t.Errorf("second Write: %v", err)
		}
	}
}

// TestDiffAppliesWithPatch: the --check diff, applied with patch(1) to what is on disk, gives
// exactly the compiled output: a changed file, a deleted one, a stale one and a file without its
// final newline included.
func TestDiffAppliesWithPatch(t *testing.T) {
	if _, err := exec.LookPath("patch"); err != nil {
		t.Fatal("patch(1) is needed (CI installs it): ", err)
	}
	out := compileRepo(t, "")
	t.Chdir(t.TempDir())
	if err := compiler.Write("out", out); err != nil {
		t.Fatal(err)
	}
	edit := func(p string, f func(string) string) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit("out/dev/namespaces.yaml", func(s string) string { return strings.Replace(s, "name: loki", "name: lokki", 1) })
	edit("out/dev/rbac.yaml", func(s string) string { return strings.TrimSuffix(s, "\n") })
	edit("out/prod/rendered.yaml", func(string) string { return "stale\n" })
	if err := os.Remove("out/base/kustomization.yaml"); err != nil {
		t.Fatal(err)
	}
	diff, err := compiler.Diff("out", out)
	if err != nil || diff == "" {
		t.Fatalf("Diff = %q, %v", diff, err)
	}
	if !strings.Contains(diff, "\\ No newline at end of file\n") {
		t.Errorf("the diff does not mark the missing newline:\n%s", diff)
	}
	cmd := exec.Command("patch", "-p0", "--forward", "--batch")
	cmd.Stdin = strings.NewReader(diff)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("patch: %v\n%s\n%s", err, b, diff)
	}
	if d, err := compiler.Diff("out", out); err != nil || d != "" {
		t.Errorf("after patch, Diff = %q, %v", d, err)
	}
}
