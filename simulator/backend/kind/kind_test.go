package kind

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	v1alpha4 "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"

	"guardrail.dev/guardrail/compiler"
	"guardrail.dev/guardrail/compiler/model"
	"guardrail.dev/guardrail/simulator"
	"guardrail.dev/guardrail/simulator/backend"
	"guardrail.dev/guardrail/simulator/backend/live"
	"guardrail.dev/guardrail/simulator/webhook"
)

var testOpts = Options{
	Name:         "gr-test",
	NodeImage:    "kindest/node:v1.36.0",
	WebhookURL:   "https://172.17.0.1:8443",
	WebhookCAPEM: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
	WebhookDir:   "/tmp/guardrail-kind-hooks",
}

// TestConfig parses the generated configuration with kind's own v1alpha4 types and checks
// every field against values written out by hand.
func TestConfig(t *testing.T) {
	raw, err := Config(testOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated:\n%s", raw)
	var c v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		t.Fatalf("not a kind v1alpha4 Cluster: %v", err)
	}
	if c.Kind != "Cluster" || c.APIVersion != "kind.x-k8s.io/v1alpha4" {
		t.Errorf("kind/apiVersion = %q/%q", c.Kind, c.APIVersion)
	}
	if c.Name != "gr-test" {
		t.Errorf("name = %q", c.Name)
	}
	if len(c.Nodes) != 1 {
		t.Fatalf("%d nodes, want 1", len(c.Nodes))
	}
	n := c.Nodes[0]
	if n.Role != v1alpha4.ControlPlaneRole {
		t.Errorf("role = %q", n.Role)
	}
	if n.Image != "kindest/node:v1.36.0" {
		t.Errorf("image = %q", n.Image)
	}
	wantMounts := []v1alpha4.Mount{{HostPath: "/tmp/guardrail-kind-hooks", ContainerPath: "/etc/guardrail/webhooks", Readonly: true}}
	if !reflect.DeepEqual(n.ExtraMounts, wantMounts) {
		t.Errorf("extraMounts = %+v, want %+v", n.ExtraMounts, wantMounts)
	}
	if len(n.KubeadmConfigPatches) != 1 {
		t.Fatalf("%d kubeadm patches, want 1", len(n.KubeadmConfigPatches))
	}
	var patch struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
		APIServer  struct {
			ExtraArgs    map[string]string `json:"extraArgs"`
			ExtraVolumes []map[string]any  `json:"extraVolumes"`
		} `json:"apiServer"`
	}
	if err := yaml.UnmarshalStrict([]byte(n.KubeadmConfigPatches[0]), &patch); err != nil {
		t.Fatalf("kubeadm patch: %v\n%s", err, n.KubeadmConfigPatches[0])
	}
	if patch.Kind != "ClusterConfiguration" || patch.APIVersion != "" {
		t.Errorf("patch kind/apiVersion = %q/%q, want ClusterConfiguration and none (kind then patches v1beta3 and v1beta4 alike)", patch.Kind, patch.APIVersion)
	}
	wantArgs := map[string]string{
		"authentication-token-webhook-config-file":     "/etc/guardrail/webhooks/authn-webhook.kubeconfig",
		"authentication-token-webhook-version":         "v1",
		"authentication-token-webhook-cache-ttl":       "0s",
		"authorization-mode":                           "Node,RBAC,Webhook",
		"authorization-webhook-config-file":            "/etc/guardrail/webhooks/authz-webhook.kubeconfig",
		"authorization-webhook-version":                "v1",
		"authorization-webhook-cache-authorized-ttl":   "0s",
		"authorization-webhook-cache-unauthorized-ttl": "0s",
	}
	if !reflect.DeepEqual(patch.APIServer.ExtraArgs, wantArgs) {
		t.Errorf("extraArgs = %v\nwant %v", patch.APIServer.ExtraArgs, wantArgs)
	}
	wantVolumes := []map[string]any{{
		"name": "guardrail-webhooks", "hostPath": "/etc/guardrail/webhooks", "mountPath": "/etc/guardrail/webhooks",
		"readOnly": true, "pathType": "Directory",
	}}
	if !reflect.DeepEqual(patch.APIServer.ExtraVolumes, wantVolumes) {
		t.Errorf("extraVolumes = %v\nwant %v", patch.APIServer.ExtraVolumes, wantVolumes)
	}
	// The node mounts the directory where the API server volume takes it from.
	if n.ExtraMounts[0].ContainerPath != patch.APIServer.ExtraVolumes[0]["hostPath"] {
		t.Error("the API server volume does not take the node's mount")
	}
}

func TestConfigDefaults(t *testing.T) {
	o := testOpts
	o.Name, o.NodeImage = "", ""
	raw, err := Config(o)
	if err != nil {
		t.Fatal(err)
	}
	var c v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		t.Fatal(err)
	}
	if c.Name != "guardrail" || c.Nodes[0].Image != "" {
		t.Errorf("name %q image %q, want guardrail and none (kind's default)", c.Name, c.Nodes[0].Image)
	}
}

func TestConfigRejects(t *testing.T) {
	for name, mut := range map[string]func(*Options){
		"no dir":       func(o *Options) { o.WebhookDir = "" },
		"relative dir": func(o *Options) { o.WebhookDir = "hooks" },
		"no url":       func(o *Options) { o.WebhookURL = "" },
		"http":         func(o *Options) { o.WebhookURL = "http://172.17.0.1:8443" },
		"loopback":     func(o *Options) { o.WebhookURL = "https://127.0.0.1:8443" },
		"localhost":    func(o *Options) { o.WebhookURL = "https://localhost:8443" },
	} {
		o := testOpts
		mut(&o)
		if _, err := Config(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestWriteWebhookKubeconfigs(t *testing.T) {
	o := testOpts
	o.WebhookDir = t.TempDir()
	if err := WriteWebhookKubeconfigs(o); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{AuthnKubeconfig: "https://172.17.0.1:8443" + webhook.PathAuthenticate, AuthzKubeconfig: "https://172.17.0.1:8443" + webhook.PathAuthorize} {
		b, err := os.ReadFile(filepath.Join(o.WebhookDir, file))
		if err != nil {
			t.Fatal(err)
		}
		var kc struct {
			Clusters []struct {
				Cluster struct {
					Server string `json:"server"`
					CA     string `json:"certificate-authority-data"`
				} `json:"cluster"`
			} `json:"clusters"`
			CurrentContext string `json:"current-context"`
		}
		if err := yaml.Unmarshal(b, &kc); err != nil {
			t.Fatal(err)
		}
		if len(kc.Clusters) != 1 || kc.Clusters[0].Cluster.Server != want {
			t.Errorf("%s: clusters %+v, want server %s", file, kc.Clusters, want)
			continue
		}
		ca, _ := base64.StdEncoding.DecodeString(kc.Clusters[0].Cluster.CA)
		if string(ca) != string(o.WebhookCAPEM) || kc.CurrentContext != "webhook" {
			t.Errorf("%s: CA %q, context %q", file, ca, kc.CurrentContext)
		}
	}
}

func TestRewriteImage(t *testing.T) {
	for in, want := range map[string]string{
		"reg.kyverno.io/kyverno/kyverno:v1.19.1":       "mirror.local:5000/kyverno/kyverno:v1.19.1",
		"ghcr.io/kyverno/kyvernopre:v1.19.1":           "mirror.local:5000/kyverno/kyvernopre:v1.19.1",
		"localhost:5000/kyverno/background-controller": "mirror.local:5000/kyverno/background-controller",
		"busybox:1.36":              "busybox:1.36",
		"docker.io/library/busybox": "docker.io/library/busybox",
	} {
		if got := RewriteImage(in, "mirror.local:5000/"); got != want {
			t.Errorf("RewriteImage(%q) = %q, want %q", in, got, want)
		}
	}
	if got := RewriteImage("reg.kyverno.io/kyverno/kyverno:v1.19.1", ""); got != "reg.kyverno.io/kyverno/kyverno:v1.19.1" {
		t.Errorf("no registry: %q", got)
	}
}

func TestPrepareKyverno(t *testing.T) {
	objs, err := live.Decode([]byte(`apiVersion: v1
kind: ConfigMap
metadata: {name: kyverno, namespace: kyverno}
data: {enableDefaultRegistryMutation: "true"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: kyverno-admission-controller, namespace: kyverno}
spec:
  template:
    spec:
      initContainers: [{name: pre, image: reg.kyverno.io/kyverno/kyvernopre:v1.19.1}]
      containers:
      - name: kyverno
        image: reg.kyverno.io/kyverno/kyverno:v1.19.1
        args: [--dumpPayload=false, --backgroundScanImage=reg.kyverno.io/kyverno/background-controller:v1.19.1]
`), "manifest")
	if err != nil {
		t.Fatal(err)
	}
	if err := prepareKyverno(objs, "mirror:5000", map[string]string{"excludeGroups": "system:nodes"}); err != nil {
		t.Fatal(err)
	}
	data, _, _ := unstructured.NestedStringMap(objs[0].Object, "data")
	if !reflect.DeepEqual(data, map[string]string{"enableDefaultRegistryMutation": "true", "excludeGroups": "system:nodes"}) {
		t.Errorf("ConfigMap data = %v", data)
	}
	spec, _, _ := unstructured.NestedMap(objs[1].Object, "spec", "template", "spec")
	c := spec["containers"].([]any)[0].(map[string]any)
	ic := spec["initContainers"].([]any)[0].(map[string]any)
	if c["image"] != "mirror:5000/kyverno/kyverno:v1.19.1" || ic["image"] != "mirror:5000/kyverno/kyvernopre:v1.19.1" {
		t.Errorf("images %v, %v", c["image"], ic["image"])
	}
	if args := c["args"].([]any); args[0] != "--dumpPayload=false" || args[1] != "--backgroundScanImage=mirror:5000/kyverno/background-controller:v1.19.1" {
		t.Errorf("args %v", args)
	}
}

func TestFetchFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "install.yaml")
	if err := os.WriteFile(p, []byte("kind: Namespace\napiVersion: v1\nmetadata: {name: kyverno}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{p, "file://" + p} {
		b, err := fetch(context.Background(), loc)
		if err != nil || !strings.Contains(string(b), "kyverno") {
			t.Errorf("fetch(%q) = %q, %v", loc, b, err)
		}
	}
	if DefaultKyvernoManifestURL != "https://github.com/kyverno/kyverno/releases/download/v1.19.1/install.yaml" {
		t.Errorf("DefaultKyvernoManifestURL = %s", DefaultKyvernoManifestURL)
	}
}

// TestAvailableAnswersFast: Available answers within 5 s; with no engine running it says
// what is missing, and the error is ErrNoEngine and ErrUnavailable.
func TestAvailableAnswersFast(t *testing.T) {
	start := time.Now()
	err := Available(context.Background())
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Available took %s", d)
	}
	if err == nil {
		t.Skip("a container engine answers here; the no-engine message is not exercised")
	}
	t.Logf("Available: %v (in %s)", err, time.Since(start))
	if !errors.Is(err, ErrNoEngine) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("error %v is not ErrNoEngine and ErrUnavailable", err)
	}
	if !strings.HasPrefix(err.Error(), "no container engine: install Docker or Podman and start it; kind needs one to run nodes") {
		t.Errorf("message %q", err)
	}
}

// TestAvailableNoEngine runs detection with a PATH that holds no engine.
func TestAvailableNoEngine(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("KIND_EXPERIMENTAL_PROVIDER", "")
	err := Available(context.Background())
	if !errors.Is(err, ErrNoEngine) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "docker: not installed") || !strings.Contains(err.Error(), "podman: not installed") {
		t.Errorf("message %q does not name both engines", err)
	}
}

// TestNewFailsFast: without an engine New fails within seconds, before creating anything.
func TestNewFailsFast(t *testing.T) {
	if Available(context.Background()) == nil {
		t.Skip("a container engine answers here")
	}
	start := time.Now()
	_, err := New(context.Background(), &model.Env{Name: "dev"}, nil, Options{})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("New took %s", d)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
}

// TestIntegrationKind runs every scenario of features/ on a kind cluster (Kyverno from the
// pinned release, the overlay applied, requests through the cluster's API server) and
// requires them all to pass, as they do offline and on the local backend. It runs when a
// container engine answers.
func TestIntegrationKind(t *testing.T) {
	if err := Available(context.Background()); err != nil {
		t.Skipf("skipping: %v", err)
	}
	if testing.Short() {
		t.Skip("skipping in -short mode: creates a kind cluster (minutes)")
	}
	out := compileRepo(t)
	var report bytes.Buffer
	res, err := simulator.Run(context.Background(), simulator.Options{
		Features: []string{"../../../features"}, Compiled: out, Out: &report,
		Backend: func(ctx context.Context, env string) (backend.Backend, error) {
			e, rendered, ok := out.Environment(env)
			if !ok {
				return nil, fmt.Errorf("no environment %s", env)
			}
			return NewWith(ctx, e, rendered, Options{Name: "guardrail-it-" + env, NodeImage: os.Getenv("GUARDRAIL_KIND_NODE_IMAGE")}, Extra{Logs: testWriter{t}})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.ScenariosFailed > 0 {
		t.Errorf("kind: %s\n%s", res.Summary, report.String())
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func compileRepo(t *testing.T) *compiler.Output {
	t.Helper()
	out, err := compiler.CompileRepository("../../..", compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
