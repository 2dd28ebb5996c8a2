package local

import (
	"context"
	"errors"
	"fmt"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"guardrail.dev/guardrail/compiler"
	"guardrail.dev/guardrail/compiler/model"
	"guardrail.dev/guardrail/compiler/resources"
	"guardrail.dev/guardrail/simulator/backend"
	"guardrail.dev/guardrail/simulator/backend/offline"
	"guardrail.dev/guardrail/simulator/identity"
)

type parityCase struct {
	name string
	p    identity.Principal
	a    backend.Action
}

func sso(user, ps string) identity.Principal {
	return identity.Principal{Kind: identity.SSO, SSOUser: user, PermissionSet: ps}
}

func action(t *testing.T, verb, what, name, ns string) backend.Action {
	t.Helper()
	r, err := resources.Lookup(what)
	if err != nil {
		t.Fatal(err)
	}
	return backend.Action{Verb: verb, Resource: r, Name: name, Namespace: ns}
}

func compileDev(t *testing.T) (*model.Env, []byte) {
	t.Helper()
	out, err := compiler.CompileRepository("../../..", compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env, rendered, ok := out.Environment("dev")
	if !ok {
		t.Fatal("no environment dev")
	}
	return env, rendered
}

func TestIntegrationParity(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts kube-apiserver, kube-controller-manager, Kyverno and the EKS webhooks")
	}
	if err := CheckBinaries("", true); err != nil {
		var missing *MissingBinaryError
		if errors.As(err, &missing) && os.Getenv("GUARDRAIL_REQUIRE_LOCAL") == "" {
			t.Skipf("skipping: %v", err)
		}
		t.Fatal(err)
	}
	env, rendered := compileDev(t)
	off, err := offline.New(env, rendered, offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	begin := time.Now()
	live, err := NewBackend(ctx, env, rendered, BackendOptions{Logs: testLogs()})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	t.Logf("local backend ready in %s; policies %v", time.Since(begin).Round(time.Millisecond), live.Policies())
	if fmt.Sprint(live.Policies()) != fmt.Sprint(off.Policies()) {
		t.Errorf("Policies: local %v, offline %v", live.Policies(), off.Policies())
	}

	elon := sso("elon.musk@example.com", "Cell_Infra_Admin")
	john := sso("john.doe@example.com", "DevOps_Admin")
	alice := sso("alice@example.com", "Developer")
	unknown := identity.Principal{Kind: identity.IAMRole, RoleARN: "arn:aws:iam::123456789012:role/intruder", SessionName: "unknown"}
	cases := []parityCase{
		{"elon create configmap testnamespace", elon, action(t, "create", "configmap", "settings", "testnamespace")},
		{"elon update configmap testnamespace", elon, action(t, "update", "configmap", "settings", "testnamespace")},
		{"elon delete configmap testnamespace", elon, action(t, "delete", "configmap", "settings", "testnamespace")},
		{"elon create configmap loki", elon, action(t, "create", "configmap", "settings", "loki")},
		{"john create configmap testnamespace", john, action(t, "create", "configmap", "settings", "testnamespace")},
		{"alice create configmap app-payments", alice, action(t, "create", "configmap", "prices", "app-payments")},
		{"alice create configmap loki", alice, action(t, "create", "configmap", "prices", "loki")},
		{"alice list pods app-other", alice, action(t, "list", "pods", "", "app-other")},
		{"unknown role list pods default", unknown, action(t, "list", "pods", "", "default")},
		{"alice GET /metrics", alice, backend.Action{Verb: "get", NonResourcePath: "/metrics"}},
		{"elon create configmap kube-system", elon, action(t, "create", "configmap", "settings", "kube-system")},
		{"elon delete namespace testnamespace", elon, action(t, "delete", "namespace", "testnamespace", "")},
		// Beyond the brief's list: a connect, a service account, a read.
		{"alice create pods/exec default", alice, action(t, "create", "pods/exec", "web", "default")},
		{"elon create pods/exec testnamespace", elon, action(t, "create", "pods/exec", "web", "testnamespace")},
		{"sa loki/loki list configmaps loki", identity.Principal{Kind: identity.ServiceAccount, Namespace: "loki", ServiceAccount: "loki"}, action(t, "list", "configmaps", "", "loki")},
		{"alice get secrets app-payments", alice, action(t, "get", "secrets", "db", "app-payments")},
	}
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-40s | %-42s | %-42s | %s\n", "case", "offline", "local", "agree")
	for _, c := range cases {
		ov, err := off.Do(ctx, c.p, c.a)
		if err != nil {
			t.Fatalf("%s: offline: %v", c.name, err)
		}
		lv, err := live.Do(ctx, c.p, c.a)
		if err != nil {
			t.Errorf("%s: local: %v", c.name, err)
			continue
		}
		var diffs []string
		if ov.Allowed != lv.Allowed {
			diffs = append(diffs, fmt.Sprintf("allowed %v vs %v", ov.Allowed, lv.Allowed))
		}
		if ov.Layer != lv.Layer {
			diffs = append(diffs, fmt.Sprintf("layer %q vs %q", ov.Layer, lv.Layer))
		}
		if ov.Allowed && lv.Allowed && ov.GrantLayer != lv.GrantLayer {
			diffs = append(diffs, fmt.Sprintf("grant layer %q vs %q", ov.GrantLayer, lv.GrantLayer))
		}
		if od, ld := denying(ov), denying(lv); ov.Layer == backend.LayerAdmission && od != ld {
			diffs = append(diffs, fmt.Sprintf("denying policies %s vs %s", od, ld))
		}
		agree := "yes"
		t.Logf("%s: local reason %q, message %q", c.name, lv.Reason, lv.Message)
		if len(diffs) > 0 {
			agree = "NO: " + strings.Join(diffs, "; ")
			t.Errorf("%s: offline and local disagree: %s\n  offline: %s (%s)\n  local:   %s (%s; message %q; grant %q)", c.name, strings.Join(diffs, "; "), summary(ov), ov.Reason, summary(lv), lv.Reason, lv.Message, lv.Grant)
		}
		fmt.Fprintf(&table, "%-40s | %-42s | %-42s | %s\n", c.name, summary(ov), summary(lv), agree)
	}
	t.Log(table.String())

	for _, sa := range [][2]string{{"loki", "loki"}, {"loki", "default"}, {"default", "default"}} {
		oc, ook, err := off.PodCredentials(ctx, sa[0], sa[1])
		if err != nil {
			t.Fatal(err)
		}
		lc, lok, err := live.PodCredentials(ctx, sa[0], sa[1])
		if err != nil {
			t.Errorf("PodCredentials %s/%s: local: %v", sa[0], sa[1], err)
			continue
		}
		t.Logf("PodCredentials %s/%s: offline ok=%v role %q, local ok=%v role %q", sa[0], sa[1], ook, oc.RoleARN, lok, lc.RoleARN)
		if ook != lok || oc.RoleARN != lc.RoleARN {
			t.Errorf("PodCredentials %s/%s: offline ok=%v %+v, local ok=%v %+v", sa[0], sa[1], ook, oc, lok, lc)
		}
	}

	// What a kept kind cluster gets before the webhooks stop: guardrail's admission webhooks
	// removed, so that pods can still be created without the Pod Identity webhook.
	if err := live.Unregister(ctx); err != nil {
		t.Fatal(err)
	}
	admin := live.Admin().AdmissionregistrationV1()
	if _, err := admin.MutatingWebhookConfigurations().Get(ctx, "guardrail-eks-pod-identity", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after Unregister, the Pod Identity webhook: %v", err)
	}
	if _, err := admin.ValidatingWebhookConfigurations().Get(ctx, "guardrail-admission-recorder", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after Unregister, the recorder webhook: %v", err)
	}
}

func denying(v backend.Verdict) string {
	var names []string
	seen := map[string]bool{}
	for _, r := range v.DeniedBy() {
		if !seen[r.Name] {
			seen[r.Name] = true
			names = append(names, r.Name)
		}
	}
	sort.Strings(names)
	return "[" + strings.Join(names, ",") + "]"
}

func summary(v backend.Verdict) string {
	if v.Allowed {
		return "allowed (" + v.GrantLayer + ")"
	}
	s := "denied at " + v.Layer
	if v.Layer == backend.LayerAdmission {
		s += " " + denying(v)
	}
	return s
}
