package kyverno_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"guardrail.dev/guardrail/compiler/kyverno"
	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const (
	elon          = "cell-infra-elon.musk-example.com"
	john          = "devops-john.doe-example.com"
	seedCP        = "block-cluster-admin-from-ns"
	seedVP        = "guardrail-elon-cannot-touch-testnamespace"
	seedCPMessage = "The cluster-admin 'cell-infra-elon.musk-example.com' user cannot touch testnamespace Namespace."
	seedVPMessage = "elon.musk may not change anything in testnamespace."
)

var (
	configMapKind = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	configMapGVR  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	mastersGroups = []string{"system:masters", "system:authenticated"}
)

// bootstrapRBAC holds the cluster-admin ClusterRoleBinding every cluster has.
var bootstrapRBAC = kyverno.RBAC{
	ClusterRoles: []rbacv1.ClusterRole{{ObjectMeta: metav1.ObjectMeta{Name: "cluster-admin"}}},
	ClusterRoleBindings: []rbacv1.ClusterRoleBinding{{
		ObjectMeta: metav1.ObjectMeta{Name: "cluster-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:masters"}},
	}},
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t testing.TB, doc string) *kyverno.Policy {
	t.Helper()
	p, err := kyverno.ParsePolicy([]byte(doc))
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	return p
}

func mustEngine(t testing.TB, cfg kyverno.Config, policies ...*kyverno.Policy) *kyverno.Engine {
	t.Helper()
	e, err := kyverno.NewEngine(policies, cfg)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	return e
}

func configMap(ns, name string) []byte {
	return []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q,"namespace":%q},"data":{"k":"v"}}`, name, ns))
}

// cmRequest builds a ConfigMap request with the object shape the API server uses for op.
func cmRequest(op, ns, user string, groups ...string) kyverno.Request {
	r := kyverno.Request{
		Operation: op,
		Kind:      configMapKind,
		Resource:  configMapGVR,
		Name:      "cm",
		Namespace: ns,
		UserInfo:  authenticationv1.UserInfo{Username: user, Groups: groups},
	}
	switch op {
	case "CREATE":
		r.Object = configMap(ns, "cm")
	case "UPDATE":
		r.Object = configMap(ns, "cm")
		r.OldObject = configMap(ns, "cm")
	case "DELETE":
		r.OldObject = configMap(ns, "cm")
	}
	return r
}

func TestParsePolicy(t *testing.T) {
	seed := string(readFixture(t, "block-cluster-admin-from-ns.yaml"))
	tests := []struct {
		name    string
		doc     string
		kind    string
		wantErr []string // substrings of the error, all required; nil = accepted
	}{
		{name: "seed ClusterPolicy", doc: seed, kind: kyverno.KindClusterPolicy},
		{name: "seed ValidatingPolicy", doc: string(readFixture(t, "guardrail-elon-cannot-touch-testnamespace.yaml")), kind: kyverno.KindValidatingPolicy},
		{
			name: "clusterRoles with background true",
			doc:  strings.Replace(seed, "background: false", "background: true", 1),
			wantErr: []string{
				"ClusterPolicy/block-cluster-admin-from-ns: ",
				"only select variables are allowed in background mode. Set spec.background=false to disable background mode for this policy rule",
				"clusterRoles",
			},
		},
		{
			name: "clusterRoles with background omitted (defaults to true)",
			doc:  strings.Replace(seed, "  background: false\n", "", 1),
			wantErr: []string{
				"ClusterPolicy/block-cluster-admin-from-ns: ",
				"only select variables are allowed in background mode",
			},
		},
		{
			name:    "unknown field",
			doc:     strings.Replace(seed, "  background: false\n", "  background: false\n  bogusField: 1\n", 1),
			wantErr: []string{"ClusterPolicy/block-cluster-admin-from-ns: ", `unknown field "spec.bogusField"`},
		},
		{
			name: "ValidatingPolicy with a CEL syntax error",
			doc: `apiVersion: policies.kyverno.io/v1
kind: ValidatingPolicy
metadata:
  name: broken-cel
spec:
  validationActions: [Deny]
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: [v1]
      resources: [configmaps]
      operations: [CREATE]
  validations:
  - expression: "object.metadata.name =="
`,
			wantErr: []string{"ValidatingPolicy/broken-cel: ", "spec.validations[0].expression", "Syntax error"},
		},
		{
			name: "ValidatingPolicy without matchConstraints",
			doc: `apiVersion: policies.kyverno.io/v1
kind: ValidatingPolicy
metadata:
  name: no-match
spec:
  validations:
  - expression: "true"
`,
			wantErr: []string{"ValidatingPolicy/no-match: ", "a matchConstraints with at least one resource rule is required"},
		},
		{
			name:    "ValidatingPolicy unknown field",
			doc:     "apiVersion: policies.kyverno.io/v1\nkind: ValidatingPolicy\nmetadata: {name: x}\nspec: {validationActions: [Deny], frobnicate: true}\n",
			wantErr: []string{"ValidatingPolicy/x: ", `unknown field "spec.frobnicate"`},
		},
		{
			name:    "two documents",
			doc:     seed + "---\n" + seed,
			wantErr: []string{"more than one YAML document"},
		},
		{
			name:    "not a Kyverno policy",
			doc:     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
			wantErr: []string{"ConfigMap/x: not a Kyverno policy"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := kyverno.ParsePolicy([]byte(tt.doc))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if p.Kind != tt.kind {
					t.Errorf("Kind = %q, want %q", p.Kind, tt.kind)
				}
				t.Logf("warnings: %q", p.Warnings)
				return
			}
			if err == nil {
				t.Fatalf("accepted, want an error containing %q", tt.wantErr)
			}
			t.Logf("error: %v", err)
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), tt.wantErr[0]) {
				t.Errorf("error %q does not start with %q", err, tt.wantErr[0])
			}
		})
	}
}

func TestSeedClusterPolicy(t *testing.T) {
	e := mustEngine(t, kyverno.Config{}, mustParse(t, string(readFixture(t, "block-cluster-admin-from-ns.yaml"))))
	deny := []kyverno.Result{{
		PolicyKind: kyverno.KindClusterPolicy, Policy: seedCP, Rule: seedCP, Status: "fail",
		Message: seedCPMessage, Enforce: true, Denies: true, ValidationIndex: -1,
	}}
	tests := []struct {
		name         string
		req          kyverno.Request
		rbac         kyverno.RBAC
		allowed      bool
		clusterRoles []string
		results      []kyverno.Result
	}{
		{"elon CREATE testnamespace", cmRequest("CREATE", "testnamespace", elon, mastersGroups...), bootstrapRBAC, false, []string{"cluster-admin"}, deny},
		{"elon UPDATE testnamespace", cmRequest("UPDATE", "testnamespace", elon, mastersGroups...), bootstrapRBAC, false, []string{"cluster-admin"}, deny},
		{"elon DELETE testnamespace", cmRequest("DELETE", "testnamespace", elon, mastersGroups...), bootstrapRBAC, false, []string{"cluster-admin"}, deny},
		{"elon CREATE default", cmRequest("CREATE", "default", elon, mastersGroups...), bootstrapRBAC, true, []string{"cluster-admin"}, nil},
		{"john CREATE testnamespace", cmRequest("CREATE", "testnamespace", john, mastersGroups...), bootstrapRBAC, true, []string{"cluster-admin"}, nil},
		{"john DELETE testnamespace", cmRequest("DELETE", "testnamespace", john, mastersGroups...), bootstrapRBAC, true, []string{"cluster-admin"}, nil},
		// without the bootstrap binding elon is not cluster-admin, and clusterRoles does not match
		{"elon CREATE testnamespace without RBAC", cmRequest("CREATE", "testnamespace", elon, mastersGroups...), kyverno.RBAC{}, true, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := e.Evaluate(context.Background(), tt.req, tt.rbac)
			if err != nil {
				t.Fatal(err)
			}
			if v.Allowed != tt.allowed {
				t.Errorf("Allowed = %v, want %v (results %+v)", v.Allowed, tt.allowed, v.Results)
			}
			if v.Excluded != "" {
				t.Errorf("Excluded = %q", v.Excluded)
			}
			if !reflect.DeepEqual(v.ClusterRoles, tt.clusterRoles) {
				t.Errorf("ClusterRoles = %q, want %q", v.ClusterRoles, tt.clusterRoles)
			}
			if v.Roles != nil {
				t.Errorf("Roles = %q, want none", v.Roles)
			}
			if !reflect.DeepEqual(v.Results, tt.results) {
				t.Errorf("Results = %+v\nwant      %+v", v.Results, tt.results)
			}
		})
	}
}

const vpolTemplate = `apiVersion: policies.kyverno.io/v1
kind: ValidatingPolicy
metadata:
  name: %s
spec:
  validationActions: [%s]
  evaluation: {background: {enabled: false}}
  matchConstraints:
    resourceRules:
    - apiGroups: ["*"]
      apiVersions: ["*"]
      resources: ["*"]
      operations: [CREATE, UPDATE, DELETE]
  matchConditions:
  - name: in-namespaces
    expression: "request.namespace in ['%s']"
  - name: subjects
    expression: "request.userInfo.username in ['%s']"
  validations:
  - expression: "false"
    message: "%s"
`

func TestValidatingPolicy(t *testing.T) {
	deny := mustParse(t, string(readFixture(t, "guardrail-elon-cannot-touch-testnamespace.yaml")))
	audit := mustParse(t, fmt.Sprintf(vpolTemplate, "audit-elon", "Audit", "testnamespace", elon, "audited"))
	warn := mustParse(t, fmt.Sprintf(vpolTemplate, "warn-elon", "Warn", "testnamespace", elon, "warned"))
	fail := func(policy, msg string, enforce bool) kyverno.Result {
		return kyverno.Result{PolicyKind: kyverno.KindValidatingPolicy, Policy: policy, Status: "fail", Message: msg, Enforce: enforce, Denies: enforce, ValidationIndex: 0}
	}
	tests := []struct {
		name     string
		policies []*kyverno.Policy
		req      kyverno.Request
		allowed  bool
		results  []kyverno.Result
		warnings []string
	}{
		{"deny CREATE", []*kyverno.Policy{deny}, cmRequest("CREATE", "testnamespace", elon), false, []kyverno.Result{fail(seedVP, seedVPMessage, true)}, nil},
		{"deny UPDATE", []*kyverno.Policy{deny}, cmRequest("UPDATE", "testnamespace", elon), false, []kyverno.Result{fail(seedVP, seedVPMessage, true)}, nil},
		{"deny DELETE (OldObject only)", []*kyverno.Policy{deny}, cmRequest("DELETE", "testnamespace", elon), false, []kyverno.Result{fail(seedVP, seedVPMessage, true)}, nil},
		{"other user", []*kyverno.Policy{deny}, cmRequest("CREATE", "testnamespace", john), true, nil, nil},
		{"other user DELETE", []*kyverno.Policy{deny}, cmRequest("DELETE", "testnamespace", john), true, nil, nil},
		{"other namespace", []*kyverno.Policy{deny}, cmRequest("CREATE", "default", elon), true, nil, nil},
		{"audit", []*kyverno.Policy{audit}, cmRequest("CREATE", "testnamespace", elon), true, []kyverno.Result{fail("audit-elon", "audited", false)}, nil},
		{"warn", []*kyverno.Policy{warn}, cmRequest("DELETE", "testnamespace", elon), true, []kyverno.Result{fail("warn-elon", "warned", false)}, []string{"Policy warn-elon failed: warned"}},
		{
			"policy order is kept", []*kyverno.Policy{audit, deny}, cmRequest("UPDATE", "testnamespace", elon), false,
			[]kyverno.Result{fail("audit-elon", "audited", false), fail(seedVP, seedVPMessage, true)}, nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEngine(t, kyverno.Config{}, tt.policies...)
			v, err := e.Evaluate(context.Background(), tt.req, kyverno.RBAC{})
			if err != nil {
				t.Fatal(err)
			}
			if v.Allowed != tt.allowed {
				t.Errorf("Allowed = %v, want %v", v.Allowed, tt.allowed)
			}
			if !reflect.DeepEqual(v.Results, tt.results) {
				t.Errorf("Results = %+v\nwant      %+v", v.Results, tt.results)
			}
			if !reflect.DeepEqual(v.Warnings, tt.warnings) {
				t.Errorf("Warnings = %q, want %q", v.Warnings, tt.warnings)
			}
		})
	}
}

// correctedVP is the guardrail shape that does not trip over cluster-scoped requests: request.namespace
// is absent (not "") for them, and reading it is an error that, with failurePolicy Fail, denies.
const correctedVP = `apiVersion: policies.kyverno.io/v1
kind: ValidatingPolicy
metadata:
  name: corrected
spec:
  validationActions: [Deny]
  evaluation: {background: {enabled: false}}
  matchConstraints:
    resourceRules:
    - apiGroups: ["*"]
      apiVersions: ["*"]
      resources: ["*"]
      operations: [CREATE, UPDATE, DELETE]
  matchConditions:
  - name: in-namespaces
    expression: "has(request.namespace) && request.namespace in ['testnamespace']"
  - name: subjects
    expression: "request.userInfo.username in ['cell-infra-elon.musk-example.com']"
  validations:
  - expression: "false"
    message: "elon.musk may not change anything in testnamespace."
`

// TestValidatingPolicyClusterScoped documents how the example guardrail shape treats requests without
// a namespace: Kyverno (like the API server evaluating the webhook's matchConditions) fails with "no
// such key: namespace" and, the policy's failurePolicy being Fail, denies every cluster-scoped request
// of the user. The has() guard fixes it; a Namespace object is then still covered on UPDATE and DELETE,
// where the API server puts its name in request.namespace.
func TestValidatingPolicyClusterScoped(t *testing.T) {
	clusterRole := func(user string) kyverno.Request {
		gvk := schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}
		return kyverno.Request{
			Operation: "CREATE", Kind: gvk, Resource: schema.GroupVersionResource{Group: gvk.Group, Version: "v1", Resource: "clusterroles"},
			Name: "x", Object: []byte(`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"x"}}`),
			UserInfo: authenticationv1.UserInfo{Username: user},
		}
	}
	deleteNamespace := kyverno.Request{
		Operation: "DELETE", Kind: schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, Resource: schema.GroupVersionResource{Version: "v1", Resource: "namespaces"},
		Name: "testnamespace", Namespace: "testnamespace", OldObject: []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"testnamespace"}}`),
		UserInfo: authenticationv1.UserInfo{Username: elon},
	}
	seed := mustParse(t, string(readFixture(t, "guardrail-elon-cannot-touch-testnamespace.yaml")))
	corrected := mustParse(t, correctedVP)
	// A namespaceSelector does not restrict cluster-scoped objects either (Kubernetes matching rules):
	// this shape denies elon every ClusterRole.
	selector := mustParse(t, strings.NewReplacer(
		"name: corrected", "name: by-selector",
		"  matchConstraints:\n", "  matchConstraints:\n    namespaceSelector:\n      matchExpressions:\n      - {key: kubernetes.io/metadata.name, operator: In, values: [testnamespace]}\n",
		"  - name: in-namespaces\n    expression: \"has(request.namespace) && request.namespace in ['testnamespace']\"\n", "",
	).Replace(correctedVP))
	tests := []struct {
		name    string
		policy  *kyverno.Policy
		req     kyverno.Request
		allowed bool
		results []kyverno.Result
	}{
		{"example shape denies elon a ClusterRole", seed, clusterRole(elon), false, []kyverno.Result{{
			PolicyKind: kyverno.KindValidatingPolicy, Policy: seedVP, Rule: "evaluation", Status: "error",
			Message: "failed to load context: no such key: namespace", Enforce: true, Denies: true, ValidationIndex: -1,
		}}},
		{"example shape lets john create a ClusterRole", seed, clusterRole(john), true, nil},
		{"corrected shape lets elon create a ClusterRole", corrected, clusterRole(elon), true, nil},
		{"namespaceSelector shape denies elon a ClusterRole", selector, clusterRole(elon), false, []kyverno.Result{{
			PolicyKind: kyverno.KindValidatingPolicy, Policy: "by-selector", Status: "fail", Message: seedVPMessage, Enforce: true, Denies: true,
		}}},
		{"namespaceSelector shape lets elon work in default", selector, cmRequest("CREATE", "default", elon), true, nil},
		{"corrected shape denies elon in testnamespace", corrected, cmRequest("UPDATE", "testnamespace", elon), false, []kyverno.Result{{
			PolicyKind: kyverno.KindValidatingPolicy, Policy: "corrected", Status: "fail", Message: seedVPMessage, Enforce: true, Denies: true,
		}}},
		{"corrected shape denies deleting the namespace", corrected, deleteNamespace, false, []kyverno.Result{{
			PolicyKind: kyverno.KindValidatingPolicy, Policy: "corrected", Status: "fail", Message: seedVPMessage, Enforce: true, Denies: true,
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := mustEngine(t, kyverno.Config{}, tt.policy).Evaluate(context.Background(), tt.req, kyverno.RBAC{})
			if err != nil {
				t.Fatal(err)
			}
			if v.Allowed != tt.allowed || !reflect.DeepEqual(v.Results, tt.results) {
				t.Errorf("Allowed = %v, Results = %+v\nwant Allowed = %v, Results = %+v", v.Allowed, v.Results, tt.allowed, tt.results)
			}
		})
	}
}

func TestExclusions(t *testing.T) {
	policies := []*kyverno.Policy{
		mustParse(t, string(readFixture(t, "block-cluster-admin-from-ns.yaml"))),
		mustParse(t, fmt.Sprintf(vpolTemplate, "deny-everyone-everywhere", "Deny", "x", "y", "no")),
	}
	nodes := cmRequest("CREATE", "testnamespace", "system:node:ip-10-0-0-1", "system:nodes", "system:authenticated")
	tests := []struct {
		name     string
		cfg      kyverno.Config
		req      kyverno.Request
		excluded []string // substrings; nil = not excluded
	}{
		{"kube-system by default", kyverno.Config{}, cmRequest("CREATE", "kube-system", elon, mastersGroups...), []string{"resourceFilters: [*/*,kube-system,*]", "webhook namespaceSelector"}},
		{"kube-public by default", kyverno.Config{}, cmRequest("CREATE", "kube-public", elon), []string{"resourceFilters: [*/*,kube-public,*] matches ConfigMap kube-public/cm"}},
		{"kyverno namespace by default", kyverno.Config{}, cmRequest("DELETE", "kyverno", elon), []string{"resourceFilters: [*/*,kyverno,*]", "namespace kyverno is not selected"}},
		{"system:nodes by default", kyverno.Config{}, nodes, []string{`excludeGroups "system:nodes"`}},
		{"Event kind", kyverno.Config{}, kyverno.Request{Operation: "CREATE", Kind: schema.GroupVersionKind{Version: "v1", Kind: "Event"}, Resource: schema.GroupVersionResource{Version: "v1", Resource: "events"}, Name: "e", Namespace: "default", Object: []byte(`{"kind":"Event","metadata":{"name":"e"}}`), UserInfo: authenticationv1.UserInfo{Username: elon}}, []string{"resourceFilters: [Event,*,*]"}},
		{"testnamespace is evaluated", kyverno.Config{}, cmRequest("CREATE", "testnamespace", elon, mastersGroups...), nil},
		{"bare config evaluates kube-system", kyverno.Config{Bare: true}, cmRequest("CREATE", "kube-system", elon), nil},
		{"bare config evaluates system:nodes", kyverno.Config{Bare: true}, nodes, nil},
		{"resourceFilters off, selector still on", kyverno.Config{ResourceFilters: kyverno.ResourceFiltersNone}, cmRequest("CREATE", "kube-public", elon), nil},
		{"excludeGroups off", kyverno.Config{ExcludeGroups: []string{}}, nodes, nil},
		{"custom excludeUsernames", kyverno.Config{Bare: true, ExcludeUsernames: []string{"cell-infra-*"}}, cmRequest("CREATE", "default", elon), []string{`excludeUsernames "cell-infra-*"`}},
		{"webhook selector off keeps the filter", kyverno.Config{WebhookNamespaceSelector: &metav1.LabelSelector{}}, cmRequest("CREATE", "kube-system", elon), []string{"resourceFilters: [*/*,kube-system,*]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEngine(t, tt.cfg, policies...)
			v, err := e.Evaluate(context.Background(), tt.req, bootstrapRBAC)
			if err != nil {
				t.Fatal(err)
			}
			if tt.excluded == nil {
				if v.Excluded != "" {
					t.Errorf("Excluded = %q, want not excluded", v.Excluded)
				}
				return
			}
			if !v.Allowed || len(v.Results) != 0 {
				t.Errorf("excluded request: Allowed = %v, Results = %+v", v.Allowed, v.Results)
			}
			for _, w := range tt.excluded {
				if !strings.Contains(v.Excluded, w) {
					t.Errorf("Excluded = %q, want it to contain %q", v.Excluded, w)
				}
			}
		})
	}
	// the webhook namespaceSelector alone
	e := mustEngine(t, kyverno.Config{ResourceFilters: kyverno.ResourceFiltersNone}, policies...)
	v, err := e.Evaluate(context.Background(), cmRequest("CREATE", "kube-system", elon), kyverno.RBAC{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "webhook namespaceSelector: namespace kube-system is not selected by Kyverno's webhooks"; !strings.HasPrefix(v.Excluded, want) || strings.Contains(v.Excluded, "resourceFilters") {
		t.Errorf("Excluded = %q, want only %q...", v.Excluded, want)
	}
}

const messagePolicy = `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: message-escaping
spec:
  background: false
  rules:
  - name: deny-all
    match:
      any:
      - resources:
          kinds: [ConfigMap]
    validate:
      failureAction: Enforce
      message: %s
      deny: {}
`

func TestClusterPolicyMessageEscaping(t *testing.T) {
	tests := []struct {
		name    string
		message string // the YAML scalar, as it appears in the policy
		want    string // what Kyverno reports
	}{
		{"escaped variable", `'\{{ x }}'`, "{{ x }}"},
		{"variable is substituted", `'ns={{ request.namespace }}'`, "ns=testnamespace"},
		{"double backslash keeps one", `'\\{{ x }}'`, `\{{ x }}`},
		{"lone braces", `'a { b } c }}'`, "a { b } c }}"},
		{"escaped reference", `'see \$(foo)'`, `see $(foo)`},
		{"not a reference: space inside", `'see $(a b)'`, `see $(a b)`},
		// a variable that does not resolve at admission time loses the whole message
		{"unresolvable variable", `'x {{ request.object.data.missing }}'`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, fmt.Sprintf(messagePolicy, tt.message))
			e := mustEngine(t, kyverno.Config{}, p)
			v, err := e.Evaluate(context.Background(), cmRequest("CREATE", "testnamespace", john), kyverno.RBAC{})
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Results) != 1 || v.Allowed {
				t.Fatalf("want one denying result, got Allowed=%v %+v", v.Allowed, v.Results)
			}
			if got := v.Results[0].Message; got != tt.want {
				t.Errorf("message = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEscapeMessage(t *testing.T) {
	// Every text goes through EscapeMessage, into a deny message, through Kyverno, and must come back.
	texts := []string{
		"plain",
		"{{ x }}",
		"{{{ x }}}",
		"{{{{x}}}}",
		"{{{{{",
		`\{{ x }}`,
		`\{{{ y }}`,
		"a {{ b }} c {{ request.namespace }} d",
		"{ single } and }} closing",
		"tail {{",
		"$(foo)",
		`\$(foo)`,
		"see $(./../x) and $(a b) and $() and $(x)y)",
		"mixed {{ $(ref) }}",
	}
	for _, text := range texts {
		t.Run(text, func(t *testing.T) {
			msg := kyverno.EscapeMessage(text)
			scalar := "'" + strings.ReplaceAll(msg, "'", "''") + "'"
			p := mustParse(t, fmt.Sprintf(messagePolicy, scalar))
			e := mustEngine(t, kyverno.Config{}, p)
			v, err := e.Evaluate(context.Background(), cmRequest("CREATE", "testnamespace", john), kyverno.RBAC{})
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Results) != 1 {
				t.Fatalf("want one result, got %+v", v.Results)
			}
			if got := v.Results[0].Message; got != text {
				t.Errorf("escaped as %q, Kyverno gave back %q, want %q", msg, got, text)
			}
		})
	}
	for in, want := range map[string]string{"{{": `\{{`, "{{{": `{\{{`, "{{{{": `\{{\{{`, "a{b": "a{b", "$(x)": `\$(x)`, "$(a b)": "$(a b)"} {
		if got := kyverno.EscapeMessage(in); got != want {
			t.Errorf("EscapeMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestResourceFiltersAgreeWithKyverno checks the engine's precompiled resourceFilters against
// Kyverno's own pkg/config matching, for the default list and odd entries.
func TestResourceFiltersAgreeWithKyverno(t *testing.T) {
	gvks := []schema.GroupVersionKind{
		{Version: "v1", Kind: "Event"}, {Version: "v1", Kind: "ConfigMap"}, {Version: "v1", Kind: "Node"},
		{Version: "v1", Kind: "Pod"}, {Version: "v1", Kind: "Secret"}, {Version: "v1", Kind: "Namespace"},
		{Version: "v1", Kind: "ServiceAccount"}, {Group: "apps", Version: "v1", Kind: "ReplicaSet"},
		{Group: "apps", Version: "v1", Kind: "Deployment"}, {Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"},
		{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}, {Group: "events.k8s.io", Version: "v1", Kind: "Event"},
	}
	subs := []string{"", "binding", "status", "scale", "exec"}
	namespaces := []string{"", "kyverno", "kube-system", "kube-public", "default", "kube-node-lease", "team-a"}
	names := []string{"", "x", "kyverno", "kube-system", "kyverno-admission-controller-7d9f", "kyverno:admission-controller", "kyverno-svc.kyverno.svc.tls", "team-a"}
	configs := []kyverno.Config{
		{},
		{ResourceFilters: "[Pod/?*,*,*] [apps/v1/Deployment,team-*,*] [v1/Secret,*,x] [*/scale,*,*] [ConfigMap] [Namespace,team-?] [a,b,c,d] [] [*,kube-public,x?]"},
	}
	for ci, cfg := range configs {
		e := mustEngine(t, cfg)
		checked, filtered := 0, 0
		for _, gvk := range gvks {
			for _, sub := range subs {
				for _, ns := range namespaces {
					for _, name := range names {
						mine, theirs := kyverno.ToFilter(e, gvk, sub, ns, name)
						if mine != theirs {
							t.Errorf("config %d: %s/%s %s/%s: engine says %v, Kyverno says %v", ci, gvk, sub, ns, name, mine, theirs)
						}
						checked++
						if theirs {
							filtered++
						}
					}
				}
			}
		}
		if filtered == 0 || filtered == checked {
			t.Errorf("config %d: %d of %d combinations filtered, the test shows nothing", ci, filtered, checked)
		}
		t.Logf("config %d: %d of %d combinations filtered", ci, filtered, checked)
	}
}

// TestConnectExec: `kubectl exec` is CONNECT pods/exec with the PodExecOptions as Object. Kyverno
// matches it on the parent kind and the subresource ("Pod/exec"; "*" matches no subresource, "*/*"
// all of them) and puts the request namespace on the options object, so `namespaces` works.
func TestConnectExec(t *testing.T) {
	execPolicy := mustParse(t, `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: no-exec
spec:
  background: false
  rules:
  - name: no-exec
    match:
      any:
      - resources:
          kinds: ["Pod/exec"]
          namespaces: [testnamespace]
        subjects:
        - kind: User
          name: cell-infra-elon.musk-example.com
    validate:
      failureAction: Enforce
      message: "no exec"
      deny:
        conditions:
          any:
          - key: "{{ request.operation }}"
            operator: Equals
            value: CONNECT
`)
	seed := mustParse(t, string(readFixture(t, "block-cluster-admin-from-ns.yaml")))
	exec := func(ns string) kyverno.Request {
		return kyverno.Request{
			Operation: "CONNECT", Kind: schema.GroupVersionKind{Version: "v1", Kind: "PodExecOptions"},
			Resource: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, SubResource: "exec",
			Name: "p", Namespace: ns, Object: []byte(`{"kind":"PodExecOptions","apiVersion":"v1","command":["sh"]}`),
			UserInfo: authenticationv1.UserInfo{Username: elon, Groups: mastersGroups},
		}
	}
	e := mustEngine(t, kyverno.Config{}, execPolicy, seed)
	tests := []struct {
		name    string
		req     kyverno.Request
		allowed bool
		results []kyverno.Result
	}{
		{"exec in testnamespace", exec("testnamespace"), false, []kyverno.Result{{
			PolicyKind: kyverno.KindClusterPolicy, Policy: "no-exec", Rule: "no-exec", Status: "fail", Message: "no exec",
			Enforce: true, Denies: true, ValidationIndex: -1,
		}}},
		{"exec elsewhere", exec("default"), true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := e.Evaluate(context.Background(), tt.req, bootstrapRBAC)
			if err != nil {
				t.Fatal(err)
			}
			if v.Allowed != tt.allowed || !reflect.DeepEqual(v.Results, tt.results) {
				t.Errorf("Allowed = %v, Results = %+v\nwant Allowed = %v, Results = %+v", v.Allowed, v.Results, tt.allowed, tt.results)
			}
		})
	}
	kyverno.SetPrefilter(e, false)
	for _, tt := range tests {
		v, err := e.Evaluate(context.Background(), tt.req, bootstrapRBAC)
		if err != nil || v.Allowed != tt.allowed || !reflect.DeepEqual(v.Results, tt.results) {
			t.Errorf("%s without prefilter: %+v %v", tt.name, v, err)
		}
	}
}
