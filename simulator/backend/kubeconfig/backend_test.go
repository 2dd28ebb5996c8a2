package kubeconfig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"guardrail.dev/guardrail/compiler"
	"guardrail.dev/guardrail/compiler/model"
	"guardrail.dev/guardrail/compiler/resources"
	"guardrail.dev/guardrail/simulator/backend"
	"guardrail.dev/guardrail/simulator/backend/local"
	"guardrail.dev/guardrail/simulator/identity"
)

func TestRenderedPolicies(t *testing.T) {
	got, err := renderedPolicies([]byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: policies.kyverno.io/v1\nkind: ValidatingPolicy\nmetadata: {name: z}\n---\napiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: b}\n"))
	if err != nil || fmt.Sprint(got) != "[b z]" {
		t.Errorf("renderedPolicies = %v, %v", got, err)
	}
}

func TestNewMissingKubeconfig(t *testing.T) {
	_, err := New(context.Background(), &model.Env{}, nil, Options{Kubeconfig: filepath.Join(t.TempDir(), "none")})
	if err == nil {
		t.Fatal("New with a missing kubeconfig: no error")
	}
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

// snapshotKinds are the kinds whose objects must be unchanged by a run.
var snapshotKinds = []schema.GroupVersionResource{
	{Version: "v1", Resource: "namespaces"},
	{Version: "v1", Resource: "configmaps"},
	{Version: "v1", Resource: "secrets"},
	{Version: "v1", Resource: "serviceaccounts"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
	{Group: "kyverno.io", Version: "v1", Resource: "clusterpolicies"},
	{Group: "policies.kyverno.io", Version: "v1", Resource: "validatingpolicies"},
}

// snapshot lists every object of snapshotKinds: "resource ns/name" → resourceVersion.
func snapshot(ctx context.Context, t *testing.T, dyn dynamic.Interface) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, gvr := range snapshotKinds {
		list, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("list %s: %v", gvr, err)
		}
		for _, o := range list.Items {
			out[gvr.GroupResource().String()+" "+o.GetNamespace()+"/"+o.GetName()] = o.GetResourceVersion()
		}
	}
	return out
}

func diff(before, after map[string]string) []string {
	var d []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			d = append(d, "deleted: "+k)
		} else if w != v {
			d = append(d, fmt.Sprintf("changed: %s (resourceVersion %s → %s)", k, v, w))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			d = append(d, "created: "+k)
		}
	}
	sort.Strings(d)
	return d
}

func TestIntegrationReadOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the local backend's control plane")
	}
	if err := local.CheckBinaries("", true); err != nil {
		var missing *local.MissingBinaryError
		if errors.As(err, &missing) && os.Getenv("GUARDRAIL_REQUIRE_LOCAL") == "" {
			t.Skipf("skipping: %v", err)
		}
		t.Fatal(err)
	}
	env, rendered := compileDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	live, err := local.NewBackend(ctx, env, rendered, local.BackendOptions{Logs: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()

	// An admin kubeconfig for the API server, with a named context that is not the current one.
	cp := live.ControlPlane()
	rc := cp.RESTConfig()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["local"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthority: rc.CAFile, CertificateAuthorityData: rc.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: rc.BearerToken}
	kc.Contexts["guardrail"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin"}
	kc.Clusters["nowhere"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	kc.Contexts["nowhere"] = &clientcmdapi.Context{Cluster: "nowhere", AuthInfo: "admin"}
	kc.CurrentContext = "nowhere"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}

	admin, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	adminDyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	// The object update and delete act on: made before the snapshot.
	const cm = "kubeconfig-probe"
	if _, err := admin.CoreV1().ConfigMaps("testnamespace").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cm}, Data: map[string]string{"a": "b"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	be, err := New(ctx, env, rendered, Options{Kubeconfig: path, Context: "guardrail"})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if fmt.Sprint(be.Policies()) != fmt.Sprint(live.Policies()) {
		t.Errorf("Policies: kubeconfig %v, local %v", be.Policies(), live.Policies())
	}

	// Wait for the cluster to settle (controllers finishing the overlay), then snapshot.
	before := snapshot(ctx, t, adminDyn)
	for i := 0; i < 30; i++ {
		time.Sleep(2 * time.Second)
		now := snapshot(ctx, t, adminDyn)
		if len(diff(before, now)) == 0 {
			break
		}
		before = now
	}

	elon := sso("elon.musk@example.com", "Cell_Infra_Admin")
	alice := sso("alice@example.com", "Developer")
	both := "[block-cluster-admin-from-ns guardrail-elon-cannot-touch-testnamespace]"
	cases := []struct {
		name    string
		p       identity.Principal
		a       backend.Action
		allowed bool
		layer   string
		denied  string // the denying policies
		err     string // an error instead of a verdict
	}{
		{"elon create configmap in testnamespace", elon, action(t, "create", "configmaps", "fresh", "testnamespace"), false, backend.LayerAdmission, both, ""},
		{"elon update configmap in testnamespace", elon, action(t, "update", "configmaps", cm, "testnamespace"), false, backend.LayerAdmission, both, ""},
		{"elon delete configmap in testnamespace", elon, action(t, "delete", "configmaps", cm, "testnamespace"), false, backend.LayerAdmission, both, ""},
		{"elon create configmap in loki", elon, action(t, "create", "configmaps", "fresh", "loki"), true, "", "[]", ""},
		{"alice create configmap in loki", alice, action(t, "create", "configmaps", "prices", "loki"), false, backend.LayerAuthorization, "[]", ""},
		{"alice list pods in app-other", alice, action(t, "list", "pods", "", "app-other"), false, "", "", "not verifiable through impersonation: access policies of arn:aws:iam::123456789012:role/"},
		{"alice list pods in app-payments", alice, action(t, "list", "pods", "", "app-payments"), true, "", "[]", ""},
		{"alice list secrets in app-other", alice, action(t, "list", "secrets", "", "app-other"), false, backend.LayerAuthorization, "[]", ""},
		{"alice can-i list pods in app-other", alice, backend.Action{Verb: "list", Resource: action(t, "list", "pods", "", "").Resource, Namespace: "app-other", AuthorizationOnly: true}, false, "", "", "not verifiable through impersonation"},
		{"elon update a missing configmap", elon, action(t, "update", "configmaps", "missing", "loki"), false, "", "", "not verifiable on a read-only cluster: ConfigMap/missing"},
		{"elon exec", elon, action(t, "create", "pods/exec", "p", "loki"), false, "", "", "not verifiable on a read-only cluster"},
	}
	for _, c := range cases {
		v, err := be.Do(ctx, c.p, c.a)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one containing %q (verdict %+v)", c.name, err, c.err, v)
			} else {
				t.Logf("%s: %v", c.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var denied []string
		for _, d := range v.DeniedBy() {
			denied = append(denied, d.Name)
		}
		sort.Strings(denied)
		if v.Allowed != c.allowed || v.Layer != c.layer || fmt.Sprint(denied) != c.denied {
			t.Errorf("%s: allowed=%v layer=%q denied-by=%v (%s), want allowed=%v layer=%q denied-by=%s", c.name, v.Allowed, v.Layer, denied, v.Reason, c.allowed, c.layer, c.denied)
		} else {
			t.Logf("%s: allowed=%v layer=%q grant=%q denied-by=%v", c.name, v.Allowed, v.Layer, v.GrantLayer, denied)
		}
	}
	if c, ok, err := be.PodCredentials(ctx, "loki", "loki"); err != nil || !ok || c.RoleARN != "arn:aws:iam::123456789012:role/loki" {
		t.Errorf("PodCredentials(loki/loki) = %+v, %v, %v", c, ok, err)
	}
	if _, ok, err := be.PodCredentials(ctx, "loki", "nobody"); err != nil || ok {
		t.Errorf("PodCredentials(loki/nobody) = %v, %v", ok, err)
	}

	after := snapshot(ctx, t, adminDyn)
	if d := diff(before, after); len(d) > 0 {
		t.Errorf("the run changed the cluster:\n%s", strings.Join(d, "\n"))
	}
	t.Logf("%d objects unchanged", len(after))
}
