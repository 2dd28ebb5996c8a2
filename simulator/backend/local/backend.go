package local

import (
	"context"
	"io"
	"net"
	"time"

	"guardrail.dev/guardrail/compiler/kyverno"
	"guardrail.dev/guardrail/compiler/model"
	"guardrail.dev/guardrail/simulator/backend"
	"guardrail.dev/guardrail/simulator/backend/live"
	"guardrail.dev/guardrail/simulator/webhook"
)

// BackendOptions configures NewBackend.
type BackendOptions struct {
	// BinDir holds the binaries; "" means DefaultBinDir().
	BinDir string
	// Logs receives the control plane's output; nil discards it.
	Logs io.Writer
	// Kyverno is the Kyverno configuration (the zero value is a default Helm install, as
	// offline uses), written into the live "kyverno" ConfigMap.
	Kyverno kyverno.Config
	// Timeout bounds the start-up of the control plane; 0 means two minutes.
	Timeout time.Duration
	// PolicyReadyTimeout bounds the wait for the overlay's policies to be Ready; 0 means 90s.
	PolicyReadyTimeout time.Duration
	// TempDir is the parent of the control plane's directory; "" for os.TempDir().
	TempDir string
}

// Backend runs actions against a real control plane on loopback (backend "local"): the EKS
// webhooks of package webhook for identity, access policies and Pod Identity, real RBAC and
// the real Kyverno admission controller. The requests are package live's Cluster.
type Backend struct {
	*live.Cluster
	cp *ControlPlane
	w  *live.Webhooks
}

// NewBackend starts the webhooks and a control plane with Kyverno, applies the rendered
// overlay and waits for its Kyverno policies to be Ready.
func NewBackend(ctx context.Context, env *model.Env, rendered []byte, opts BackendOptions) (*Backend, error) {
	if err := CheckBinaries(opts.BinDir, true); err != nil {
		return nil, err
	}
	objs, err := live.Decode(rendered, "rendered.yaml")
	if err != nil {
		return nil, err
	}
	kcfg, err := live.KyvernoConfigMap(opts.Kyverno)
	if err != nil {
		return nil, err
	}
	b := &Backend{}
	if b.w, err = live.ServeWebhooks(env, net.ParseIP("127.0.0.1")); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = b.Close()
		}
	}()
	url := b.w.URL()
	b.cp, err = Start(ctx, Options{
		BinDir: opts.BinDir, Logs: opts.Logs, Kyverno: true, KyvernoConfig: kcfg, TempDir: opts.TempDir, Timeout: opts.Timeout,
		Webhooks: &Webhooks{TokenURL: url + webhook.PathAuthenticate, AuthorizeURL: url + webhook.PathAuthorize, CA: b.w.CA()},
	})
	if err != nil {
		return nil, err
	}
	b.Cluster, err = live.Connect(ctx, env, b.w, objs, live.Options{Name: "local", Admin: b.cp.RESTConfig(), PolicyReadyTimeout: opts.PolicyReadyTimeout})
	if err != nil {
		return nil, err
	}
	ok = true
	return b, nil
}

// ControlPlane is the running control plane.
func (b *Backend) ControlPlane() *ControlPlane { return b.cp }

// Close implements backend.Backend: the control plane stops, then the webhooks.
func (b *Backend) Close() error {
	var err error
	if b.cp != nil {
		err = b.cp.Stop()
	}
	if b.w != nil {
		if werr := b.w.Close(); err == nil {
			err = werr
		}
	}
	return err
}

var _ backend.Backend = (*Backend)(nil)
