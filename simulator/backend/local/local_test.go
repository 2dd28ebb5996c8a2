package local

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"guardrail.dev/guardrail/simulator/backend/live"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	seedPolicyFile = "../../../policies/block-cluster-admin-from-ns.yaml"
	elon           = "cell-infra-elon.musk-example.com"
)

var clusterPolicyGVR = schema.GroupVersionResource{Group: "kyverno.io", Version: "v1", Resource: "clusterpolicies"}

func TestIntegrationControlPlane(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts kube-apiserver, kube-controller-manager and Kyverno")
	}
	if err := CheckBinaries("", true); err != nil {
		var missing *MissingBinaryError
		if errors.As(err, &missing) && os.Getenv("GUARDRAIL_REQUIRE_LOCAL") == "" {
			t.Skipf("skipping: %v", err)
		}
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	begin := time.Now()
	cp, err := Start(ctx, Options{Kyverno: true, Logs: testLogs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("control plane (kube-apiserver, kube-controller-manager, Kyverno) ready in %s", time.Since(begin).Round(time.Millisecond))
	stopped := false
	defer func() {
		if !stopped {
			_ = cp.Stop()
		}
	}()
	if !strings.HasPrefix(cp.Server, "https://127.0.0.1:") {
		t.Errorf("Server = %q, want https://127.0.0.1:<port>", cp.Server)
	}
	if _, err := os.Stat(cp.Kubeconfig); err != nil {
		t.Errorf("kubeconfig: %v", err)
	}

	admin := kubernetes.NewForConfigOrDie(cp.RESTConfig())
	body, err := admin.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil || string(body) != "ok" {
		t.Fatalf("/readyz = %q, %v", body, err)
	}

	// The seed's policy, as Kyverno sees it.
	raw, err := os.ReadFile(seedPolicyFile)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := live.Decode(raw, seedPolicyFile)
	if err != nil || len(objs) != 1 {
		t.Fatalf("decode %s: %d objects, %v", seedPolicyFile, len(objs), err)
	}
	policy := objs[0]
	message := policyMessage(t, policy)
	quiet := cp.RESTConfig()
	quiet.WarningHandler = rest.NoWarnings{} // kyverno.io/v1 ClusterPolicy is deprecated
	dyn := dynamic.NewForConfigOrDie(quiet)
	if _, err := dyn.Resource(clusterPolicyGVR).Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ClusterPolicy: %v", err)
	}
	readyStart := time.Now()
	eventually(t, 60*time.Second, "ClusterPolicy to be Ready", func() error {
		p, err := dyn.Resource(clusterPolicyGVR).Get(ctx, policy.GetName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !live.ConditionTrue(p, "Ready") {
			conds, _, _ := unstructured.NestedSlice(p.Object, "status", "conditions")
			return fmt.Errorf("conditions %v", conds)
		}
		return nil
	})
	t.Logf("ClusterPolicy %s Ready after %s", policy.GetName(), time.Since(readyStart).Round(time.Millisecond))

	for _, ns := range []string{"testnamespace", "app-payments"} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(t, ctx, admin, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "cell-infra-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: elon}},
	})
	mustCreate(t, ctx, admin, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-edit", Namespace: "app-payments"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "alice@example.com"}},
	})

	// The cluster-admin is denied by Kyverno in testnamespace, and only there.
	asElon := impersonate(cp, elon)
	eventually(t, 20*time.Second, "Kyverno to deny the dry-run CREATE in testnamespace", func() error {
		_, err := asElon.CoreV1().ConfigMaps("testnamespace").Create(ctx, configMap("probe"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil {
			return errors.New("allowed")
		}
		if !strings.Contains(err.Error(), message) {
			return err
		}
		return nil
	})
	_, err = asElon.CoreV1().ConfigMaps("testnamespace").Create(ctx, configMap("elon"), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), message) {
		t.Errorf("%s CREATE configmap in testnamespace: got %v, want a denial with %q", elon, err, message)
	} else {
		t.Logf("denied as expected: %v", err)
	}
	if _, err := asElon.CoreV1().ConfigMaps("default").Create(ctx, configMap("elon"), metav1.CreateOptions{}); err != nil {
		t.Errorf("%s CREATE configmap in default: %v, want allowed", elon, err)
	}
	if _, err := admin.CoreV1().ConfigMaps("testnamespace").Create(ctx, configMap("admin"), metav1.CreateOptions{}); err != nil {
		t.Errorf("admin CREATE configmap in testnamespace: %v, want allowed", err)
	}

	// edit is aggregated, so a namespace editor can create a ConfigMap there (and only there).
	asAlice := impersonate(cp, "alice@example.com")
	eventually(t, 10*time.Second, "alice's RoleBinding to take effect", func() error {
		_, err := asAlice.CoreV1().ConfigMaps("app-payments").Create(ctx, configMap("probe"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	})
	if _, err := asAlice.CoreV1().ConfigMaps("app-payments").Create(ctx, configMap("alice"), metav1.CreateOptions{}); err != nil {
		t.Errorf("alice (edit in app-payments) CREATE configmap in app-payments: %v, want allowed", err)
	}
	if _, err := asAlice.CoreV1().ConfigMaps("default").Create(ctx, configMap("alice"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("alice CREATE configmap in default: %v, want forbidden by RBAC", err)
	}
	// The serviceaccount controller runs too.
	eventually(t, 10*time.Second, "ServiceAccount app-payments/default", func() error {
		_, err := admin.CoreV1().ServiceAccounts("app-payments").Get(ctx, "default", metav1.GetOptions{})
		return err
	})

	// Stop leaves nothing behind.
	pids := cp.PIDs()
	if len(pids) != 3 {
		t.Errorf("PIDs() = %v, want 3 (kube-apiserver, kube-controller-manager, kyverno)", pids)
	}
	stopStart := time.Now()
	if err := cp.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	stopped = true
	t.Logf("stopped in %s", time.Since(stopStart).Round(time.Millisecond))
	if err := cp.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	for _, pid := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !os.IsNotExist(err) {
			t.Errorf("process %d still exists after Stop (stat: %v)", pid, err)
		}
	}
	if left := processesInGroups(pids); len(left) > 0 {
		t.Errorf("processes left in the control plane's process groups: %v", left)
	}
	if _, err := os.Stat(cp.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Stop (stat: %v)", cp.Dir, err)
	}
}

// TestStopOnCancel checks that cancelling Start's context stops the control plane.
func TestIntegrationStopOnCancel(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts kube-apiserver and kube-controller-manager")
	}
	if err := CheckBinaries("", false); err != nil {
		if os.Getenv("GUARDRAIL_REQUIRE_LOCAL") != "" {
			t.Fatal(err)
		}
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	begin := time.Now()
	cp, err := Start(ctx, Options{Logs: testLogs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("control plane without Kyverno ready in %s", time.Since(begin).Round(time.Millisecond))
	pids := cp.PIDs()
	cancel()
	eventually(t, 20*time.Second, "the control plane to stop after cancel", func() error {
		if _, err := os.Stat(cp.Dir); !os.IsNotExist(err) {
			return fmt.Errorf("%s still exists", cp.Dir)
		}
		for _, pid := range pids {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !os.IsNotExist(err) {
				return fmt.Errorf("process %d still exists", pid)
			}
		}
		return nil
	})
	if err := cp.Stop(); err != nil {
		t.Errorf("Stop after cancel: %v", err)
	}
}

func TestMissingBinary(t *testing.T) {
	dir := t.TempDir()
	_, err := Start(context.Background(), Options{BinDir: dir, Kyverno: true})
	var missing *MissingBinaryError
	if !errors.As(err, &missing) {
		t.Fatalf("Start with an empty BinDir: %v, want a *MissingBinaryError", err)
	}
	if want := filepath.Join(dir, APIServerBinary); missing.Path != want {
		t.Errorf("Path = %q, want %q", missing.Path, want)
	}
	if !strings.Contains(err.Error(), "make local-tools") {
		t.Errorf("error %q does not say to run make local-tools", err)
	}
	// With the API server present, the Kyverno binary is what is missing.
	if err := os.WriteFile(filepath.Join(dir, APIServerBinary), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	err = CheckBinaries(dir, true)
	if !errors.As(err, &missing) || missing.Path != filepath.Join(dir, KyvernoBinary) {
		t.Errorf("CheckBinaries: %v, want %s missing", err, KyvernoBinary)
	}
	if err := CheckBinaries(dir, false); err != nil {
		t.Errorf("CheckBinaries without Kyverno: %v", err)
	}
}

func TestDefaultBinDir(t *testing.T) {
	dir, err := DefaultBinDir()
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "bin"); dir != want {
		t.Errorf("DefaultBinDir() = %q, want %q", dir, want)
	}
}

func TestWritePKI(t *testing.T) {
	p, err := writePKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p.CA) {
		t.Fatal("CA PEM holds no certificate")
	}
	raw, err := os.ReadFile(p.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: pool}); err != nil {
			t.Errorf("serving certificate for %s: %v", host, err)
		}
	}
	for _, f := range []string{p.KeyFile, p.SAKeyFile, p.SAPubFile} {
		if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestLogSink(t *testing.T) {
	var out strings.Builder
	s := newLogSink("x", &out)
	for i := range maxTail + 5 {
		fmt.Fprintf(s, "line %d\n", i)
	}
	fmt.Fprint(s, "partial")
	s.flush()
	lines := strings.Split(s.tail(), "\n")
	if len(lines) != maxTail || lines[0] != "line 6" || lines[len(lines)-1] != "partial" {
		t.Errorf("tail = %d lines %q ... %q", len(lines), lines[0], lines[len(lines)-1])
	}
	if !strings.HasPrefix(out.String(), "[x] line 0\n") {
		t.Errorf("output starts %q", out.String()[:20])
	}
}

func TestKyvernoCRDDir(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	dir, err := KyvernoCRDDir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dir, "kyverno@"+KyvernoVersion) {
		t.Errorf("KyvernoCRDDir() = %s, want one in kyverno@%s", dir, KyvernoVersion)
	}
	if _, err := os.Stat(filepath.Join(dir, "kyverno", "kyverno.io_clusterpolicies.yaml")); err != nil {
		t.Error(err)
	}
}

// testLogs is where the control plane's output goes: GUARDRAIL_LOCAL_LOGS=1 shows it.
func testLogs() io.Writer {
	if os.Getenv("GUARDRAIL_LOCAL_LOGS") != "" {
		return os.Stderr
	}
	return nil
}

func policyMessage(t *testing.T, policy *unstructured.Unstructured) string {
	t.Helper()
	rules, _, _ := unstructured.NestedSlice(policy.Object, "spec", "rules")
	if len(rules) == 0 {
		t.Fatal("policy has no rules")
	}
	msg, _, _ := unstructured.NestedString(rules[0].(map[string]any), "validate", "message")
	if msg == "" {
		t.Fatal("policy's first rule has no validate.message")
	}
	return msg
}

func impersonate(cp *ControlPlane, user string) kubernetes.Interface {
	cfg := cp.RESTConfig()
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	return kubernetes.NewForConfigOrDie(cfg)
}

func configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": "v"}}
}

func mustCreate(t *testing.T, ctx context.Context, kube kubernetes.Interface, obj any) {
	t.Helper()
	var err error
	switch o := obj.(type) {
	case *rbacv1.ClusterRoleBinding:
		_, err = kube.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
	case *rbacv1.RoleBinding:
		_, err = kube.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	default:
		t.Fatalf("mustCreate: %T", obj)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// eventually retries f every 100ms until it returns nil, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// processesInGroups lists the processes whose process group is one of pgids.
func processesInGroups(pgids []int) []string {
	want := map[int]bool{}
	for _, p := range pgids {
		want[p] = true
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var left []string
	for _, f := range stats {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces, so split after the last ')'.
		s := string(raw)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) < 3 {
			continue
		}
		if pgrp, err := strconv.Atoi(fields[2]); err == nil && want[pgrp] {
			left = append(left, strings.TrimSpace(s[:i+1]))
		}
	}
	return left
}
