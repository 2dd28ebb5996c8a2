package kind

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/cluster"
	kindlog "sigs.k8s.io/kind/pkg/log"

	"guardrail.dev/guardrail/compiler/kyverno"
	"guardrail.dev/guardrail/compiler/model"
	"guardrail.dev/guardrail/simulator/backend"
	"guardrail.dev/guardrail/simulator/backend/live"
)

// Extra are the settings New takes beyond Options.
type Extra struct {
	// Kyverno is written into the "kyverno" ConfigMap of the manifest, as the local backend
	// does (resourceFilters, excludeGroups, webhooks).
	Kyverno kyverno.Config
	// Logs receives kind's progress; nil discards it.
	Logs io.Writer
}

// New checks that a container engine answers and the node image is there (an error
// matching ErrUnavailable otherwise, within seconds), serves the EKS webhooks on the bridge
// gateway, creates the kind cluster wired to them, installs Kyverno from
// opts.KyvernoManifestURL, applies the rendered overlay and waits for its policies. Requests
// then go to the cluster's API server as package live's Cluster sends them, each scenario
// identity with its own bearer token. Close deletes the cluster unless opts.Keep.
func New(ctx context.Context, env *model.Env, rendered []byte, opts Options) (backend.Backend, error) {
	return NewWith(ctx, env, rendered, opts, Extra{})
}

// Backend is the kind backend: a live.Cluster on a kind cluster.
type Backend struct {
	*live.Cluster
	w        *live.Webhooks
	provider *cluster.Provider
	name     string
	dir      string
	keep     bool
	logs     io.Writer
}

// Close implements backend.Backend. The cluster is deleted unless Keep; a kept cluster loses
// guardrail's admission webhooks first (they stop with this process, and pod creation would
// fail without the Pod Identity one) and keeps answering its admin kubeconfig, while the
// scenario identities' tokens stop working with the webhooks.
func (b *Backend) Close() error {
	var err error
	if b.keep {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if b.Cluster != nil {
			err = b.Cluster.Unregister(ctx)
		}
		if b.logs != nil {
			fmt.Fprintf(b.logs, "kind: kept cluster %s (kubectl --kubeconfig %s/kubeconfig; delete with kind delete cluster --name %s)\n", b.name, b.dir, b.name)
		}
	} else {
		if derr := b.provider.Delete(b.name, b.dir+"/kubeconfig"); err == nil {
			err = derr
		}
		_ = os.RemoveAll(b.dir)
	}
	if werr := b.w.Close(); err == nil {
		err = werr
	}
	return err
}

// NewWith is New with Extra settings.
func NewWith(ctx context.Context, env *model.Env, rendered []byte, opts Options, extra Extra) (backend.Backend, error) {
	engine, err := detect(ctx)
	if err != nil {
		return nil, err
	}
	image := opts.NodeImage
	if image == "" {
		image = defaults.Image
	}
	if err := ensureImage(ctx, engine, image); err != nil {
		return nil, err
	}
	overlay, err := live.Decode(rendered, "rendered.yaml")
	if err != nil {
		return nil, fmt.Errorf("kind: the rendered overlay: %w", err)
	}
	manifest, err := fetch(ctx, opts.KyvernoManifestURL)
	if err != nil {
		return nil, err
	}
	kyv, err := live.Decode(manifest, "the Kyverno manifest")
	if err != nil {
		return nil, fmt.Errorf("kind: the Kyverno manifest: %w", err)
	}
	cm, err := live.KyvernoConfigMap(extra.Kyverno)
	if err != nil {
		return nil, err
	}
	if err := prepareKyverno(kyv, opts.KyvernoImageRegistry, cm); err != nil {
		return nil, err
	}

	gw, err := BridgeGateway(ctx, engine)
	if err != nil {
		return nil, err
	}
	w, err := live.ServeWebhooks(env, gw)
	if err != nil {
		return nil, fmt.Errorf("kind: serve the webhooks on the bridge gateway %s: %w", gw, err)
	}
	dir, err := os.MkdirTemp("", "guardrail-kind-")
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	opts.NodeImage, opts.WebhookURL, opts.WebhookCAPEM, opts.WebhookDir = image, w.URL(), w.CA(), dir
	var logger kindlog.Logger = kindlog.NoopLogger{}
	if extra.Logs != nil {
		logger = writerLogger{extra.Logs}
	}
	providerOpt := cluster.ProviderWithDocker()
	if engine == "podman" {
		providerOpt = cluster.ProviderWithPodman()
	}
	b := &Backend{w: w, provider: cluster.NewProvider(providerOpt, cluster.ProviderWithLogger(logger)), name: opts.Name, dir: dir, keep: opts.Keep, logs: extra.Logs}
	ok := false
	defer func() {
		if !ok {
			_ = b.Close()
		}
	}()
	if err := WriteWebhookKubeconfigs(opts); err != nil {
		return nil, err
	}
	cfg, err := Config(opts)
	if err != nil {
		return nil, err
	}
	err = b.provider.Create(opts.Name,
		cluster.CreateWithRawConfig(cfg),
		cluster.CreateWithNodeImage(image),
		cluster.CreateWithWaitForReady(3*time.Minute),
		cluster.CreateWithDisplayUsage(false),
		cluster.CreateWithDisplaySalutation(false),
		cluster.CreateWithKubeconfigPath(dir+"/kubeconfig"))
	if err != nil {
		return nil, fmt.Errorf("kind: create cluster %s: %w", opts.Name, err)
	}
	kc, err := b.provider.KubeConfig(opts.Name, false)
	if err != nil {
		return nil, fmt.Errorf("kind: kubeconfig of %s: %w", opts.Name, err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig([]byte(kc))
	if err != nil {
		return nil, err
	}
	rc.WarningHandler = rest.NoWarnings{}
	if err := live.Apply(ctx, rc, kyv, 2*time.Minute); err != nil {
		return nil, fmt.Errorf("kind: install Kyverno: %w", err)
	}
	if err := waitDeployments(ctx, rc, "kyverno", 5*time.Minute); err != nil {
		return nil, fmt.Errorf("kind: Kyverno: %w", err)
	}
	if b.Cluster, err = live.Connect(ctx, env, w, overlay, live.Options{Name: "kind", Admin: rc, PolicyReadyTimeout: 3 * time.Minute}); err != nil {
		return nil, fmt.Errorf("kind: %w", err)
	}
	ok = true
	return b, nil
}

// ensureImage makes sure the node image is present, pulling it once; an image that is
// neither present nor pullable is reported as unavailable.
func ensureImage(ctx context.Context, engine, image string) error {
	if _, err := run(ctx, 10*time.Second, engine, "image", "inspect", image); err == nil {
		return nil
	}
	out, err := run(ctx, 5*time.Minute, engine, "pull", image)
	if err != nil {
		return nodeImageError("no node image: %s is not present in %s and `%s pull` failed (%s); load it (%s load -i FILE) or choose a present one with --kind-node-image", image, engine, engine, oneLine(out, err), engine)
	}
	return nil
}

// fetch reads the manifest from an http(s) URL, a file:// URL or a path.
func fetch(ctx context.Context, loc string) ([]byte, error) {
	if loc == "" {
		loc = DefaultKyvernoManifestURL
	}
	u, err := url.Parse(loc)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("kind: fetch the Kyverno manifest (set its location for air-gapped use): %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("kind: fetch the Kyverno manifest %s: %s", loc, resp.Status)
		}
		return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	}
	path := loc
	if err == nil && u.Scheme == "file" {
		path = u.Path
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kind: read the Kyverno manifest: %w", err)
	}
	return b, nil
}

// imageRef is an image reference with a registry host (one with a dot or a port) before
// a kyverno/ path.
var imageRef = regexp.MustCompile(`^[a-zA-Z0-9.-]+(\.[a-zA-Z0-9-]+|:[0-9]+)(/kyverno/.*)$`)

// RewriteImage moves a Kyverno image to registry: reg.kyverno.io/kyverno/kyverno:v1.19.1
// becomes REGISTRY/kyverno/kyverno:v1.19.1. Other images are left alone.
func RewriteImage(image, registry string) string {
	if registry == "" {
		return image
	}
	m := imageRef.FindStringSubmatch(image)
	if m == nil {
		return image
	}
	return strings.TrimSuffix(registry, "/") + m[2]
}

// prepareKyverno rewrites the manifest's images to registry and writes cm into the
// "kyverno" ConfigMap.
func prepareKyverno(objs []*unstructured.Unstructured, registry string, cm map[string]string) error {
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" && o.GetName() == "kyverno" {
			data, _, _ := unstructured.NestedStringMap(o.Object, "data")
			if data == nil {
				data = map[string]string{}
			}
			for k, v := range cm {
				data[k] = v
			}
			if err := unstructured.SetNestedStringMap(o.Object, data, "data"); err != nil {
				return err
			}
		}
		if registry == "" {
			continue
		}
		rewriteImages(o.Object, registry)
	}
	return nil
}

// rewriteImages rewrites every "image" string field, and Kyverno's --*Image= flags, below v.
func rewriteImages(v any, registry string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "image" {
				x[k] = RewriteImage(s, registry)
				continue
			}
			rewriteImages(e, registry)
		}
	case []any:
		for i, e := range x {
			if s, ok := e.(string); ok && strings.HasPrefix(s, "--") && strings.Contains(s, "Image=") {
				flag, img, _ := strings.Cut(s, "=")
				x[i] = flag + "=" + RewriteImage(img, registry)
				continue
			}
			rewriteImages(e, registry)
		}
	}
}

// waitDeployments waits until every deployment of the namespace is available.
func waitDeployments(ctx context.Context, rc *rest.Config, ns string, timeout time.Duration) error {
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		list, err := kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		pending := []string{}
		if err == nil {
			for _, d := range list.Items {
				if !available(&d) {
					pending = append(pending, d.Name)
				}
			}
			if len(list.Items) > 0 && len(pending) == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for deployments in %s (pending %v, err %v)", timeout, ns, pending, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func available(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == "True" {
			return true
		}
	}
	return false
}

// writerLogger is a kind logger writing to w.
type writerLogger struct{ w io.Writer }

func (l writerLogger) Warn(m string)                      { fmt.Fprintln(l.w, m) }
func (l writerLogger) Warnf(f string, a ...any)           { fmt.Fprintf(l.w, f+"\n", a...) }
func (l writerLogger) Error(m string)                     { fmt.Fprintln(l.w, m) }
func (l writerLogger) Errorf(f string, a ...any)          { fmt.Fprintf(l.w, f+"\n", a...) }
func (l writerLogger) V(kindlog.Level) kindlog.InfoLogger { return writerInfo(l) }

type writerInfo writerLogger

func (l writerInfo) Info(m string)            { fmt.Fprintln(l.w, m) }
func (l writerInfo) Infof(f string, a ...any) { fmt.Fprintf(l.w, f+"\n", a...) }
func (l writerInfo) Enabled() bool            { return true }
