package kyverno_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"guardrail.dev/guardrail/compiler/kyverno"
	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// genClusterPolicy is a guardrail-shaped ClusterPolicy: user may not touch namespace, with a few
// variations of the match block so that every prefilter branch is exercised.
func genClusterPolicy(i int, user, namespace string) string {
	var match string
	switch i % 5 {
	case 0: // the seed shape
		match = fmt.Sprintf(`      any:
      - resources:
          kinds: ["*"]
          namespaces: [%s]
        clusterRoles: [cluster-admin]
        subjects:
        - kind: User
          name: %s`, namespace, user)
	case 1: // group subject, wildcard namespace, operations
		match = fmt.Sprintf(`      any:
      - resources:
          kinds: [ConfigMap, Secret]
          namespaces: ["%s*"]
          operations: [CREATE, DELETE]
        subjects:
        - kind: Group
          name: %s-group`, namespace, user)
	case 2: // all[] with a role from a RoleBinding
		match = fmt.Sprintf(`      all:
      - resources:
          kinds: ["v1/ConfigMap"]
      - resources:
          kinds: ["*"]
          namespaces: [%s]
        roles: ["%s:editor"]`, namespace, namespace)
	case 3: // deprecated single block with a wildcard user
		match = fmt.Sprintf(`      resources:
        kinds: ["*"]
        namespaces: [%s]
      subjects:
      - kind: User
        name: "%s*"`, namespace, user[:len(user)-3])
	case 4: // namespaceSelector and an exclude; "*/*" also matches subresources, "*" does not
		match = fmt.Sprintf(`      any:
      - resources:
          kinds: ["*/*"]
          namespaceSelector:
            matchLabels:
              team: %s
        subjects:
        - kind: User
          name: %s`, namespace, user)
	}
	exclude := `    exclude:
      any:
      - resources:
          kinds: ["*"]
          names: [allowed-*]
`
	if i%5 == 3 {
		exclude = `    exclude:
      resources:
        kinds: ["*"]
        names: [allowed-*]
`
	}
	action := "Enforce"
	if i%7 == 3 {
		action = "Audit"
	}
	return fmt.Sprintf(`apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: cpol-%03d
spec:
  background: false
  rules:
  - name: guard
    match:
%s
%s    validate:
      failureAction: %s
      message: "%s may not touch {{ request.namespace }}"
      deny:
        conditions:
          any:
          - key: "{{ request.operation || 'BACKGROUND' }}"
            operator: AnyIn
            value: [CREATE, UPDATE, DELETE]
`, i, match, exclude, action, user)
}

func genValidatingPolicy(i int, user, namespace string) string {
	conds := fmt.Sprintf(`  - name: in-namespaces
    expression: "request.namespace in ['%s', '%s-b']"
  - name: subjects
    expression: "request.userInfo.username == '%s'"`, namespace, namespace, user)
	selector := ""
	switch i % 6 {
	case 1: // group membership
		conds = fmt.Sprintf(`  - name: group
    expression: "'%s-group' in request.userInfo.groups && request.operation != 'CONNECT'"`, user)
	case 3: // the corrected guardrail shape, with has()
		conds = fmt.Sprintf(`  - name: in-namespaces
    expression: "has(request.namespace) && request.namespace in ['%s']"
  - name: subjects
    expression: "has(request.userInfo.username) && request.userInfo.username in ['%s']"`, namespace, user)
	case 4: // or, not, and something the prefilter cannot decide
		conds = fmt.Sprintf(`  - name: mixed
    expression: "(request.namespace == '%s' || request.userInfo.username == '%s') && !(request.operation in ['UPDATE']) && object.kind != 'Secret'"`, namespace, user)
	case 2:
		conds = fmt.Sprintf(`  - name: both
    expression: "request.userInfo.username in ['%s'] && request.operation == 'DELETE'"`, user)
		selector = fmt.Sprintf(`    namespaceSelector:
      matchExpressions:
      - {key: kubernetes.io/metadata.name, operator: In, values: [%s]}
`, namespace)
	}
	action := "Deny"
	if i%7 == 5 {
		action = "Audit"
	}
	return fmt.Sprintf(`apiVersion: policies.kyverno.io/v1
kind: ValidatingPolicy
metadata:
  name: vpol-%03d
spec:
  validationActions: [%s]
  evaluation: {background: {enabled: false}}
  matchConstraints:
%s    resourceRules:
    - apiGroups: ["*"]
      apiVersions: ["*"]
      resources: ["*"]
      operations: [CREATE, UPDATE, DELETE]
  matchConditions:
%s
  validations:
  - expression: "object == null || !has(object.metadata.labels) || !('guardrail-exempt' in object.metadata.labels)"
    messageExpression: "'%s may not change ' + request.namespace"
`, i, action, selector, conds, user)
}

func genUser(i int) string      { return fmt.Sprintf("user-%03d-example.com", i) }
func genNamespace(i int) string { return fmt.Sprintf("team-%03d", i) }

// genPolicies returns n policies, half ClusterPolicies and half ValidatingPolicies, about users and
// namespaces 0..n/2.
func genPolicies(t testing.TB, n int) []*kyverno.Policy {
	t.Helper()
	var out []*kyverno.Policy
	for i := 0; i < n; i++ {
		k := i / 2
		var doc string
		if i%2 == 0 {
			doc = genClusterPolicy(k, genUser(k), genNamespace(k))
		} else {
			doc = genValidatingPolicy(k, genUser(k), genNamespace(k))
		}
		p, err := kyverno.ParsePolicy([]byte(doc))
		if err != nil {
			t.Fatalf("policy %d: %v\n%s", i, err, doc)
		}
		out = append(out, p)
	}
	return out
}

func genRBAC(n int) kyverno.RBAC {
	rbac := bootstrapRBAC
	rbac.ClusterRoleBindings = append([]rbacv1.ClusterRoleBinding(nil), bootstrapRBAC.ClusterRoleBindings...)
	for i := 0; i < n; i++ {
		rbac.RoleBindings = append(rbac.RoleBindings, rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "editors", Namespace: genNamespace(i)},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "editor"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: genUser(i)}},
		})
		rbac.ClusterRoleBindings = append(rbac.ClusterRoleBindings, rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("view-%d", i)},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: genUser(i) + "-group"}},
		})
	}
	return rbac
}

// genRequests crosses operations, users (as masters or plain, with their group), namespaces and kinds.
func genRequests(users, namespaces int) []kyverno.Request {
	var out []kyverno.Request
	kinds := []struct {
		gvk  schema.GroupVersionKind
		gvr  schema.GroupVersionResource
		name string
	}{
		{configMapKind, configMapGVR, "cm"},
		{schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, "s"},
		{configMapKind, configMapGVR, "allowed-cm"},
		{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, "d"},
		{schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}, "cr"},
		{schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, ""},
	}
	for u := 0; u < users; u++ {
		for n := 0; n < namespaces; n++ {
			for ki, k := range kinds {
				for oi, op := range []string{"CREATE", "UPDATE", "DELETE"} {
					user := genUser(u)
					groups := []string{user + "-group", "system:authenticated"}
					if (u+n+ki+oi)%2 == 0 {
						groups = append(groups, "system:masters")
					}
					if u == 0 && (n+ki)%3 == 1 { // an empty identity: no username, no groups in the CEL request
						user, groups = "", nil
					}
					ns := genNamespace(n)
					if (n+oi)%5 == 4 {
						ns += "-b"
					}
					name := k.name
					switch k.gvk.Kind {
					case "ClusterRole":
						ns = ""
					case "Namespace":
						// the API server puts the name in request.namespace except on CREATE
						name = ns
						if op == "CREATE" {
							ns = ""
						}
					}
					labels := ""
					if (u+ki)%3 == 0 {
						labels = `,"labels":{"guardrail-exempt":"x"}`
					}
					metaNS := ""
					if k.gvk.Kind != "ClusterRole" && k.gvk.Kind != "Namespace" {
						metaNS = fmt.Sprintf(`,"namespace":%q`, ns)
					}
					obj := []byte(fmt.Sprintf(`{"apiVersion":%q,"kind":%q,"metadata":{"name":%q%s%s}}`,
						k.gvk.GroupVersion().String(), k.gvk.Kind, name, metaNS, labels))
					r := kyverno.Request{
						Operation: op, Kind: k.gvk, Resource: k.gvr, Name: name, Namespace: ns,
						UserInfo: authenticationv1.UserInfo{Username: user, Groups: groups},
					}
					if ns != "" {
						r.NamespaceLabels = map[string]string{"team": genNamespace(n)}
					}
					switch op {
					case "CREATE":
						r.Object = obj
					case "UPDATE":
						r.Object, r.OldObject = obj, obj
					case "DELETE":
						r.OldObject = obj
					}
					out = append(out, r)
				}
			}
			// kubectl exec: CONNECT pods/exec, the options as Object
			out = append(out, kyverno.Request{
				Operation: "CONNECT", Kind: schema.GroupVersionKind{Version: "v1", Kind: "PodExecOptions"},
				Resource: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, SubResource: "exec",
				Name: "p", Namespace: genNamespace(n), NamespaceLabels: map[string]string{"team": genNamespace(n)},
				Object:   []byte(`{"kind":"PodExecOptions","apiVersion":"v1","stdin":true,"command":["sh"]}`),
				UserInfo: authenticationv1.UserInfo{Username: genUser(u), Groups: []string{genUser(u) + "-group"}},
			})
		}
	}
	return out
}

// TestPrefilterIsConservative checks that dropping policies before Kyverno sees them never changes a
// verdict, over generated policies and requests that hit and miss every kind of match criterion.
func TestPrefilterIsConservative(t *testing.T) {
	policies := genPolicies(t, 40)
	rbac := genRBAC(20)
	fast := mustEngine(t, kyverno.Config{}, policies...)
	slow := mustEngine(t, kyverno.Config{}, policies...)
	kyverno.SetPrefilter(slow, false)
	reqs := genRequests(8, 8)
	var denied, results, kinds int
	seen := map[string]bool{}
	for _, req := range reqs {
		a, err := fast.Evaluate(context.Background(), req, rbac)
		if err != nil {
			t.Fatal(err)
		}
		b, err := slow.Evaluate(context.Background(), req, rbac)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%s %s %s/%s by %s:\nprefiltered %+v\nfull        %+v", req.Operation, req.Kind.Kind, req.Namespace, req.Name, req.UserInfo.Username, a, b)
		}
		if !a.Allowed {
			denied++
		}
		results += len(a.Results)
		for _, r := range a.Results {
			key := r.Policy[:4] + fmt.Sprint(strings.TrimLeft(r.Policy[5:], "0")) + r.Status
			if !seen[key] {
				seen[key] = true
				kinds++
			}
		}
	}
	// Sanity: the generated set must actually produce denials and results, or the test shows nothing.
	if denied == 0 || results < 50 || kinds < 10 {
		t.Errorf("weak test data: %d requests, %d denied, %d results, %d distinct policy/status", len(reqs), denied, results, kinds)
	}
	t.Logf("%d requests, %d denied, %d results, policy/status seen: %v", len(reqs), denied, results, seen)
}

// BenchmarkEvaluate measures verdicts over 300 generated policies (150 ClusterPolicies, 150
// ValidatingPolicies, 5 and 6 shapes of each) and 150 users' RBAC bindings.
//
//   - mix: the requests of TestPrefilterIsConservative (CREATE/UPDATE/DELETE x 12 users x 12
//     namespaces x 6 kinds, cluster-scoped ones and empty identities included): about half of them
//     reach Kyverno and about 40% are denied, a worst case.
//   - unmatched: ConfigMap requests in the policies' namespaces by users no policy names, the common
//     case of a guardrail set; the prefilter answers most of them without Kyverno.
//
// The parallel variants use every core (GOMAXPROCS).
func BenchmarkEvaluate(b *testing.B) {
	start := time.Now()
	policies := genPolicies(b, 300)
	b.Logf("ParsePolicy: 300 policies in %v", time.Since(start))
	rbac := genRBAC(150)
	e := mustEngine(b, kyverno.Config{}, policies...)
	ctx := context.Background()
	mix := genRequests(12, 12)
	var unmatched []kyverno.Request
	for i := 0; i < 150; i++ {
		for _, op := range []string{"CREATE", "UPDATE", "DELETE"} {
			r := cmRequest(op, genNamespace(i), fmt.Sprintf("someone-%d@example.com", i), "developers", "system:authenticated")
			r.NamespaceLabels = map[string]string{"team": genNamespace(i)}
			unmatched = append(unmatched, r)
		}
	}
	for _, set := range []struct {
		name string
		reqs []kyverno.Request
	}{{"mix", mix}, {"unmatched", unmatched}} {
		reqs := set.reqs
		var denied, matched int
		for _, r := range reqs {
			v, err := e.Evaluate(ctx, r, rbac)
			if err != nil {
				b.Fatal(err)
			}
			if !v.Allowed {
				denied++
			}
			if len(v.Results) > 0 {
				matched++
			}
		}
		b.Logf("%s: %d requests, %d with results, %d denied", set.name, len(reqs), matched, denied)
		b.Run(set.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := e.Evaluate(ctx, reqs[i%len(reqs)], rbac); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verdicts/s")
		})
		b.Run(set.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := e.Evaluate(ctx, reqs[i%len(reqs)], rbac); err != nil {
						b.Error(err)
						return
					}
					i += 7
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verdicts/s")
		})
	}
}

// TestConcurrentEvaluate runs one engine from several goroutines and compares with serial verdicts
// (run it with -race to check the engine shares no mutable state between requests).
func TestConcurrentEvaluate(t *testing.T) {
	policies := genPolicies(t, 24)
	rbac := genRBAC(12)
	e := mustEngine(t, kyverno.Config{}, policies...)
	reqs := genRequests(4, 4)
	want := make([]kyverno.Verdict, len(reqs))
	for i, r := range reqs {
		v, err := e.Evaluate(context.Background(), r, rbac)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = v
	}
	const workers = 4
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			for k := range reqs {
				i := (k*7 + w*13) % len(reqs)
				v, err := e.Evaluate(context.Background(), reqs[i], rbac)
				if err == nil && !reflect.DeepEqual(v, want[i]) {
					err = fmt.Errorf("request %d: concurrent verdict %+v differs from serial %+v", i, v, want[i])
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(w)
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
