// Package local starts a real control plane on loopback: kube-apiserver (Kubernetes v1.36.3)
// with an embedded etcd, the kube-controller-manager controllers that a faithful RBAC model
// needs (ClusterRole aggregation, service accounts, namespaces), and optionally the real
// Kyverno v1.19.1 admission controller, so a backend can run scenarios against it.
//
// It does not link Kubernetes' or Kyverno's servers: it runs the binaries that
// `make local-tools` builds into bin/ (from the separate modules under tools/) as child
// processes, each in its own process group, and talks to them with client-go.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Names of the binaries in Options.BinDir, and the versions they are built from.
const (
	APIServerBinary   = "guardrail-kube-apiserver" // kube-apiserver + embedded etcd; subcommand controller-manager
	KyvernoBinary     = "guardrail-kyverno"        // github.com/kyverno/kyverno/cmd/kyverno
	KubernetesVersion = "v1.36.3"
	KyvernoVersion    = "v1.19.1"

	// BuildCommand builds the binaries, run in the repository root.
	BuildCommand = "make local-tools"
)

// AdminUser is the user of the admin kubeconfig; it is in system:masters.
const AdminUser = "guardrail-admin"

// Controllers are the kube-controller-manager controllers the control plane runs.
var Controllers = []string{
	"clusterrole-aggregation-controller", // fills admin, edit and view from system:aggregate-to-*
	"serviceaccount-controller",          // the default ServiceAccount of every namespace
	"serviceaccount-token-controller",
	"namespace-controller", // namespace deletion
}

// Webhooks wires authentication and authorization to external services, as EKS does with
// its IAM authenticator and access policies.
type Webhooks struct {
	// TokenURL receives authentication.k8s.io/v1 TokenReviews for bearer tokens the API
	// server does not know itself; "" for none.
	TokenURL string
	// AuthorizeURL receives authorization.k8s.io/v1 SubjectAccessReviews for requests that
	// RBAC does not allow (--authorization-mode=RBAC,Webhook); "" for none.
	AuthorizeURL string
	// CA is the PEM bundle that verifies the webhooks' serving certificates; nil for the
	// system roots.
	CA []byte
}

// Options configures Start.
type Options struct {
	// BinDir holds the binaries; "" means DefaultBinDir().
	BinDir string
	// Webhooks, when set, adds token authentication and authorization webhooks.
	Webhooks *Webhooks
	// Logs receives the output of every child process, each line prefixed with its name;
	// nil discards it (the last lines still appear in errors).
	Logs io.Writer
	// Kyverno also starts the Kyverno admission controller and waits for its webhooks.
	Kyverno bool
	// KyvernoConfig is the data of the "kyverno" ConfigMap (resourceFilters, excludeGroups,
	// webhooks, ...); nil leaves it empty, which is Kyverno's built-in default, not the Helm
	// chart's.
	KyvernoConfig map[string]string
	// KyvernoCRDDir is the directory holding Kyverno's CRDs (config/crds of the Kyverno
	// module); "" finds them in the Go module cache.
	KyvernoCRDDir string
	// TempDir is the parent of the control plane's directory; "" for os.TempDir().
	TempDir string
	// APIServerArgs and KyvernoArgs are extra flags for kube-apiserver and Kyverno,
	// appended last.
	APIServerArgs []string
	KyvernoArgs   []string
	// Timeout bounds the start-up; 0 means two minutes.
	Timeout time.Duration
}

// ControlPlane is a running control plane. Stop it when done.
type ControlPlane struct {
	Kubeconfig string // admin kubeconfig (token of AdminUser, in system:masters)
	Server     string // https://127.0.0.1:port
	Dir        string // temporary directory with certificates, etcd data and kubeconfig; removed by Stop
	CAFile     string // CA of the API server's serving certificate
	Token      string // admin bearer token

	// KyvernoWebhookPort is where Kyverno serves its webhooks (0 without Kyverno).
	KyvernoWebhookPort int

	config *rest.Config
	logs   io.Writer
	began  time.Time

	mu       sync.Mutex
	procs    []*process
	stopOnce sync.Once
	stopErr  error
	stopped  chan struct{}
}

// Start starts a control plane. It returns once the API server is ready, ClusterRole
// aggregation has filled admin/edit/view and, with opts.Kyverno, Kyverno's webhooks are
// registered. Cancelling ctx stops the control plane (as Stop does).
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	binDir := opts.BinDir
	if binDir == "" {
		var err error
		if binDir, err = DefaultBinDir(); err != nil {
			return nil, err
		}
	}
	apiserverBin, err := findBinary(binDir, APIServerBinary)
	if err != nil {
		return nil, err
	}
	var kyvernoBin, crdDir string
	if opts.Kyverno {
		if kyvernoBin, err = findBinary(binDir, KyvernoBinary); err != nil {
			return nil, err
		}
		if crdDir = opts.KyvernoCRDDir; crdDir == "" {
			if crdDir, err = KyvernoCRDDir(ctx); err != nil {
				return nil, err
			}
		}
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}

	dir, err := os.MkdirTemp(opts.TempDir, "guardrail-local-")
	if err != nil {
		return nil, err
	}
	c := &ControlPlane{Dir: dir, stopped: make(chan struct{}), logs: opts.Logs, began: time.Now()}
	ok := false
	defer func() {
		if !ok {
			_ = c.Stop()
		}
	}()
	startCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	if err := c.startAPIServer(startCtx, apiserverBin, opts); err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(c.config)
	if err != nil {
		return nil, err
	}
	c.logf("kube-apiserver ready")
	if err := c.startControllerManager(apiserverBin, opts.Logs); err != nil {
		return nil, err
	}
	if opts.Kyverno {
		if err := c.startKyverno(startCtx, kube, kyvernoBin, crdDir, opts); err != nil {
			return nil, err
		}
	}
	if err := c.waitFor(startCtx, "ClusterRoles admin, edit and view to be aggregated", func(ctx context.Context) (bool, error) {
		return aggregated(ctx, kube)
	}); err != nil {
		return nil, err
	}
	c.logf("control plane ready")

	ok = true
	go func() {
		select {
		case <-ctx.Done():
			_ = c.Stop()
		case <-c.stopped:
		}
	}()
	return c, nil
}

func (c *ControlPlane) startAPIServer(ctx context.Context, bin string, opts Options) error {
	p, err := writePKI(c.Dir)
	if err != nil {
		return err
	}
	c.CAFile = p.CAFile
	c.Token = randomToken()
	tokenFile := filepath.Join(c.Dir, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", c.Token, AdminUser, AdminUser)), 0o600); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	c.Server = "https://127.0.0.1:" + strconv.Itoa(port)
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := writeKubeconfig(c.Kubeconfig, "guardrail-local", c.Server, p.CA, c.Token); err != nil {
		return err
	}
	c.config = &rest.Config{
		Host:            c.Server,
		BearerToken:     c.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: p.CA},
		QPS:             100,
		Burst:           200,
	}

	authz := "RBAC"
	args := []string{
		"--etcd-data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--",
		"--secure-port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--tls-cert-file=" + p.CertFile,
		"--tls-private-key-file=" + p.KeyFile,
		"--cert-dir=" + filepath.Join(c.Dir, "certs"),
		"--token-auth-file=" + tokenFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.SAPubFile,
		"--service-account-signing-key-file=" + p.SAKeyFile,
		"--service-cluster-ip-range=10.96.0.0/16",
		// The kubernetes Service cannot have a loopback endpoint; nothing here needs it.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	}
	if w := opts.Webhooks; w != nil {
		if w.TokenURL != "" {
			f := filepath.Join(c.Dir, "authn-webhook.kubeconfig")
			if err := writeKubeconfig(f, "authn-webhook", w.TokenURL, w.CA, ""); err != nil {
				return err
			}
			args = append(args,
				"--authentication-token-webhook-config-file="+f,
				"--authentication-token-webhook-version=v1",
				"--authentication-token-webhook-cache-ttl=0s")
		}
		if w.AuthorizeURL != "" {
			f := filepath.Join(c.Dir, "authz-webhook.kubeconfig")
			if err := writeKubeconfig(f, "authz-webhook", w.AuthorizeURL, w.CA, ""); err != nil {
				return err
			}
			authz = "RBAC,Webhook"
			args = append(args,
				"--authorization-webhook-config-file="+f,
				"--authorization-webhook-version=v1",
				"--authorization-webhook-cache-authorized-ttl=0s",
				"--authorization-webhook-cache-unauthorized-ttl=0s")
		}
	}
	args = append(args, "--authorization-mode="+authz)
	args = append(args, opts.APIServerArgs...)

	proc, err := startProcess("kube-apiserver", bin, args, nil, opts.Logs)
	if err != nil {
		return err
	}
	c.add(proc)

	kube, err := kubernetes.NewForConfig(c.config)
	if err != nil {
		return err
	}
	return c.waitFor(ctx, "kube-apiserver /readyz", func(ctx context.Context) (bool, error) {
		body, err := kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return false, err
		}
		return strings.TrimSpace(string(body)) == "ok", nil
	})
}

func (c *ControlPlane) startControllerManager(bin string, logs io.Writer) error {
	args := []string{
		"controller-manager",
		"--kubeconfig=" + c.Kubeconfig,
		"--controllers=" + strings.Join(Controllers, ","),
		"--service-account-private-key-file=" + filepath.Join(c.Dir, "sa.key"),
		"--root-ca-file=" + c.CAFile,
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
		"--profiling=false",
	}
	proc, err := startProcess("kube-controller-manager", bin, args, nil, logs)
	if err != nil {
		return err
	}
	c.add(proc)
	return nil
}

// aggregated reports whether the aggregation controller has filled admin, edit and view.
func aggregated(ctx context.Context, kube kubernetes.Interface) (bool, error) {
	for _, name := range []string{"admin", "edit", "view"} {
		cr, err := kube.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if !hasRule(cr.Rules, "", "configmaps", "get") {
			return false, fmt.Errorf("ClusterRole %s has %d rules", name, len(cr.Rules))
		}
	}
	return true, nil
}

func hasRule(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}

// RESTConfig is a copy of the admin client configuration.
func (c *ControlPlane) RESTConfig() *rest.Config { return rest.CopyConfig(c.config) }

// PIDs are the process ids of the control plane's processes (each leads its process group).
func (c *ControlPlane) PIDs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var pids []int
	for _, p := range c.procs {
		pids = append(pids, p.pid())
	}
	return pids
}

// Stop kills every process of the control plane, waits for them and removes Dir. It is
// safe to call more than once and from several goroutines.
func (c *ControlPlane) Stop() error {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		procs := c.procs
		c.mu.Unlock()
		// Kyverno and the controller manager first, so they do not log errors about the
		// API server going away, then the API server (which closes etcd).
		var wg sync.WaitGroup
		for i := len(procs) - 1; i >= 1; i-- {
			wg.Add(1)
			go func(p *process) { defer wg.Done(); p.stop(2 * time.Second) }(procs[i])
		}
		wg.Wait()
		if len(procs) > 0 {
			procs[0].stop(5 * time.Second)
		}
		if c.Dir != "" {
			c.stopErr = os.RemoveAll(c.Dir)
		}
		close(c.stopped)
	})
	return c.stopErr
}

// logf writes a progress line, with the time since Start began, to Options.Logs.
func (c *ControlPlane) logf(format string, args ...any) {
	if c.logs != nil {
		fmt.Fprintf(c.logs, "[local] %s: %s\n", time.Since(c.began).Round(time.Millisecond), fmt.Sprintf(format, args...))
	}
}

func (c *ControlPlane) add(p *process) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.procs = append(c.procs, p)
}

// waitFor polls cond every 100ms until it holds, ctx ends or a process exits.
func (c *ControlPlane) waitFor(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		c.mu.Lock()
		procs := c.procs
		c.mu.Unlock()
		for _, p := range procs {
			select {
			case <-p.done:
				return fmt.Errorf("waiting for %s: %w", what, p.exited())
			default:
			}
		}
		reqCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		done, err := cond(reqCtx)
		cancel()
		if done {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("waiting for %s: %v", what, ctx.Err())
			if last != nil {
				msg += " (last error: " + last.Error() + ")"
			}
			for _, p := range procs {
				msg += fmt.Sprintf("\nlast output of %s:\n%s", p.name, p.log.tail())
			}
			return errors.New(msg)
		case <-tick.C:
		}
	}
}

// DefaultBinDir is bin/ in the root of the guardrail module that holds the working
// directory (found by walking up to its go.mod).
func DefaultBinDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && isRootModule(b) {
			return filepath.Join(dir, "bin"), nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("local: no guardrail.dev/guardrail go.mod above %s; set Options.BinDir to the directory where %q put %s", wd, BuildCommand, APIServerBinary)
		}
	}
}

func isRootModule(gomod []byte) bool {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == "guardrail.dev/guardrail"
		}
	}
	return false
}

// MissingBinaryError is returned by Start when a binary has not been built.
type MissingBinaryError struct{ Path string }

func (e *MissingBinaryError) Error() string {
	return fmt.Sprintf("local control plane: %s not found; build it with `%s` in the repository root", e.Path, BuildCommand)
}

// CheckBinaries reports a *MissingBinaryError when a binary Start needs is missing from
// binDir ("" for DefaultBinDir()).
func CheckBinaries(binDir string, kyverno bool) error {
	if binDir == "" {
		var err error
		if binDir, err = DefaultBinDir(); err != nil {
			return err
		}
	}
	if _, err := findBinary(binDir, APIServerBinary); err != nil {
		return err
	}
	if kyverno {
		if _, err := findBinary(binDir, KyvernoBinary); err != nil {
			return err
		}
	}
	return nil
}

func findBinary(dir, name string) (string, error) {
	path := filepath.Join(dir, name)
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", &MissingBinaryError{Path: path}
	}
	return path, nil
}

// freePort is a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeKubeconfig writes a kubeconfig for server, with token when not "".
func writeKubeconfig(path, name, server string, ca []byte, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	return clientcmd.WriteToFile(*cfg, path)
}

// goCommand runs the go command and returns its standard output.
func goCommand(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	// Outside any module, so nothing can touch a go.mod or go.sum.
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off", "GO111MODULE=on")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
