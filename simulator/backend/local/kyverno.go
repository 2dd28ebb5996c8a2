package local

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"guardrail.dev/guardrail/simulator/backend/live"
)

// Kyverno's names in the control plane, as a Helm install named "kyverno" would have them.
const (
	KyvernoNamespace = "kyverno"
	kyvernoService   = "kyverno-svc"
	kyvernoCASecret  = "kyverno-svc.kyverno.svc.kyverno-tls-ca"
	kyvernoTLSSecret = "kyverno-svc.kyverno.svc.kyverno-tls-pair"

	// Webhook configurations Kyverno registers; Start waits for both.
	KyvernoPolicyWebhook   = live.KyvernoPolicyWebhook
	KyvernoResourceWebhook = "kyverno-resource-validating-webhook-cfg"
)

// kyvernoCRDGroups are the directories of config/crds that an install applies.
var kyvernoCRDGroups = []string{"kyverno", "policies.kyverno.io", "policyreport", "reports"}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// KyvernoCRDDir is config/crds of github.com/kyverno/kyverno@KyvernoVersion in the Go module
// cache; the module is downloaded (through the Go module proxy) when it is not there yet.
func KyvernoCRDDir(ctx context.Context) (string, error) {
	mod := "github.com/kyverno/kyverno@" + KyvernoVersion
	if out, err := goCommand(ctx, "env", "GOMODCACHE"); err == nil {
		if cache := strings.TrimSpace(string(out)); cache != "" {
			dir := filepath.Join(cache, "github.com", "kyverno", "kyverno@"+KyvernoVersion, "config", "crds")
			if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
				return dir, nil
			}
		}
	}
	out, err := goCommand(ctx, "mod", "download", "-json", mod)
	if err != nil {
		return "", fmt.Errorf("find Kyverno's CRDs: %w", err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil {
		return "", fmt.Errorf("find Kyverno's CRDs: go mod download %s: %w", mod, err)
	}
	if m.Error != "" || m.Dir == "" {
		return "", fmt.Errorf("find Kyverno's CRDs: go mod download %s: %s", mod, m.Error)
	}
	return filepath.Join(m.Dir, "config", "crds"), nil
}

func (c *ControlPlane) startKyverno(ctx context.Context, kube kubernetes.Interface, bin, crdDir string, opts Options) error {
	dyn, err := dynamic.NewForConfig(c.config)
	if err != nil {
		return err
	}
	names, err := applyCRDs(ctx, dyn, crdDir)
	if err != nil {
		return err
	}
	c.logf("applied %d Kyverno CRDs", len(names))
	if err := createKyvernoNamespace(ctx, kube, opts.KyvernoConfig); err != nil {
		return err
	}
	if err := c.waitFor(ctx, "Kyverno's CRDs to be established", func(ctx context.Context) (bool, error) {
		return established(ctx, dyn, names)
	}); err != nil {
		return err
	}

	c.logf("Kyverno CRDs established")

	port, err := freePort()
	if err != nil {
		return err
	}
	metricsPort, err := freePort()
	if err != nil {
		return err
	}
	c.KyvernoWebhookPort = port
	args := []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--serverIP=127.0.0.1:" + strconv.Itoa(port), // webhook URLs are https://<serverIP><path>
		"--webhookServerHost=127.0.0.1",
		"--webhookServerPort=" + strconv.Itoa(port),
		"--caSecretName=" + kyvernoCASecret,
		"--tlsSecretName=" + kyvernoTLSSecret,
		"--metricsHost=127.0.0.1",
		"--metricsPort=" + strconv.Itoa(metricsPort),
		"--controllerRuntimeMetricsAddress=0",
		"--disableLogColor",
		"--autoMemLimitEnabled=false",
		// Its own CA and serving certificate: ECDSA keys are generated in a few milliseconds,
		// RSA ones take seconds on a small machine.
		"--tlsKeyAlgorithm=ECDSA",
	}
	args = append(args, opts.KyvernoArgs...)
	env := []string{
		"KYVERNO_NAMESPACE=" + KyvernoNamespace,
		"KYVERNO_SERVICEACCOUNT_NAME=kyverno-admission-controller",
		"KYVERNO_ROLE_NAME=kyverno:admission-controller",
		"KYVERNO_DEPLOYMENT=kyverno-admission-controller",
		"KYVERNO_POD_NAME=kyverno-admission-controller-local",
		"KYVERNO_SVC=" + kyvernoService,
		"INIT_CONFIG=kyverno",
		"METRICS_CONFIG=kyverno-metrics",
	}
	proc, err := startProcess("kyverno", bin, args, env, opts.Logs)
	if err != nil {
		return err
	}
	c.add(proc)

	var caBundle []byte
	if err := c.waitFor(ctx, "Kyverno's webhooks to be registered", func(ctx context.Context) (bool, error) {
		for _, name := range []string{KyvernoPolicyWebhook, KyvernoResourceWebhook} {
			vwc, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if name == KyvernoPolicyWebhook {
				if len(vwc.Webhooks) == 0 {
					return false, fmt.Errorf("%s has no webhooks", name)
				}
				caBundle = vwc.Webhooks[0].ClientConfig.CABundle
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	c.logf("Kyverno's webhooks registered")
	return c.waitFor(ctx, "Kyverno's webhook server", func(ctx context.Context) (bool, error) {
		return webhookServerUp(ctx, port, caBundle)
	})
}

// applyCRDs server-side applies every CRD under dir's kyvernoCRDGroups and returns their names.
func applyCRDs(ctx context.Context, dyn dynamic.Interface, dir string) ([]string, error) {
	var objs []*unstructured.Unstructured
	for _, group := range kyvernoCRDGroups {
		files, err := filepath.Glob(filepath.Join(dir, group, "*.yaml"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("no Kyverno CRDs in %s", filepath.Join(dir, group))
		}
		for _, f := range files {
			docs, err := readObjects(f)
			if err != nil {
				return nil, err
			}
			objs = append(objs, docs...)
		}
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		names []string
		sem   = make(chan struct{}, 4)
	)
	force := true
	for _, obj := range objs {
		names = append(names, obj.GetName())
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			data, err := json.Marshal(obj.Object)
			if err == nil {
				_, err = dyn.Resource(crdGVR).Patch(ctx, obj.GetName(), types.ApplyPatchType, data,
					metav1.PatchOptions{FieldManager: "guardrail-local", Force: &force})
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("apply CRD %s: %w", obj.GetName(), err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Strings(names)
	return names, errors.Join(errs...)
}

// readObjects decodes every non-empty YAML document of a file.
func readObjects(path string) ([]*unstructured.Unstructured, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return live.Decode(raw, path)
}

func established(ctx context.Context, dyn dynamic.Interface, names []string) (bool, error) {
	for _, name := range names {
		crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if !live.ConditionTrue(crd, "Established") {
			return false, fmt.Errorf("CRD %s is not established", name)
		}
	}
	return true, nil
}

func createKyvernoNamespace(ctx context.Context, kube kubernetes.Interface, config map[string]string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: KyvernoNamespace}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", KyvernoNamespace, err)
	}
	for name, data := range map[string]map[string]string{"kyverno": config, "kyverno-metrics": nil} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: KyvernoNamespace}, Data: data}
		if _, err := kube.CoreV1().ConfigMaps(KyvernoNamespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create ConfigMap %s/%s: %w", KyvernoNamespace, name, err)
		}
	}
	return nil
}

// webhookServerUp reports whether Kyverno's webhook server answers its liveness path over
// TLS verified with the CA it put into its webhook configurations.
func webhookServerUp(ctx context.Context, port int, caBundle []byte) (bool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caBundle) {
		return false, errors.New("Kyverno's webhook caBundle holds no certificate")
	}
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}},
		Timeout:   2 * time.Second,
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/health/liveness", port), nil)
	if err != nil {
		return false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET /health/liveness: %s", resp.Status)
	}
	return true, nil
}
