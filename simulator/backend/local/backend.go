package local

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"guardrail.dev/guardrail/compiler/kyverno"
	"guardrail.dev/guardrail/compiler/model"
	"guardrail.dev/guardrail/simulator/authz"
	"guardrail.dev/guardrail/simulator/backend"
	"guardrail.dev/guardrail/simulator/backend/offline"
	"guardrail.dev/guardrail/simulator/identity"
	"guardrail.dev/guardrail/simulator/podidentity"
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
// the real Kyverno admission controller.
type Backend struct {
	env      *model.Env
	cp       *ControlPlane
	hooks    *webhook.Server
	serving  *http.Server
	admin    kubernetes.Interface
	adminDyn dynamic.Interface
	caFile   string

	sas      map[string]bool
	policies []string
	grants   *grantRecorder
	reviews  *reviewRecorder

	mu     sync.Mutex
	tokens map[string]string // identity key → bearer token
}

// KyvernoConfigMap renders a kyverno.Config as the data of Kyverno's "kyverno" ConfigMap, the
// same resourceFilters, excludeGroups and webhook namespaceSelector the offline engine uses.
func KyvernoConfigMap(c kyverno.Config) (map[string]string, error) {
	data := map[string]string{}
	rf := c.ResourceFilters
	if rf == "" && !c.Bare {
		rf = kyverno.DefaultResourceFilters
	}
	if rf == kyverno.ResourceFiltersNone {
		rf = ""
	}
	if rf != "" {
		data["resourceFilters"] = rf
	}
	groups := c.ExcludeGroups
	if groups == nil && !c.Bare {
		groups = kyverno.DefaultExcludeGroups()
	}
	if len(groups) > 0 {
		data["excludeGroups"] = strings.Join(groups, ",")
	}
	if len(c.ExcludeUsernames) > 0 {
		data["excludeUsernames"] = strings.Join(c.ExcludeUsernames, ",")
	}
	if len(c.ExcludeRoles) > 0 {
		data["excludeRoles"] = strings.Join(c.ExcludeRoles, ",")
	}
	if len(c.ExcludeClusterRoles) > 0 {
		data["excludeClusterRoles"] = strings.Join(c.ExcludeClusterRoles, ",")
	}
	sel := c.WebhookNamespaceSelector
	if sel == nil && !c.Bare {
		sel = kyverno.DefaultWebhookNamespaceSelector()
	}
	if sel != nil {
		js, err := json.Marshal([]map[string]any{{"namespaceSelector": sel}})
		if err != nil {
			return nil, err
		}
		data["webhooks"] = string(js)
	}
	return data, nil
}

// NewBackend starts the webhooks and a control plane with Kyverno, applies the rendered
// overlay and waits for its Kyverno policies to be Ready.
func NewBackend(ctx context.Context, env *model.Env, rendered []byte, opts BackendOptions) (*Backend, error) {
	if err := CheckBinaries(opts.BinDir, true); err != nil {
		return nil, err
	}
	objs, err := decodeObjects(rendered, "rendered.yaml")
	if err != nil {
		return nil, err
	}
	b := &Backend{env: env, sas: map[string]bool{}, tokens: map[string]string{}, grants: &grantRecorder{seen: map[string]string{}}, reviews: &reviewRecorder{seen: map[string][]byte{}}}
	for _, o := range objs {
		switch o.GroupVersionKind().GroupKind().String() {
		case "Namespace":
			b.sas[o.GetName()+"/default"] = true
		case "ServiceAccount":
			b.sas[o.GetNamespace()+"/"+o.GetName()] = true
		case "ClusterPolicy.kyverno.io", "ValidatingPolicy.policies.kyverno.io":
			b.policies = append(b.policies, o.GetName())
		}
	}
	sort.Strings(b.policies)
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		b.sas[ns+"/default"] = true
	}

	authorizer, err := authz.New(authz.RBACObjects{}, offline.Associations(env))
	if err != nil {
		return nil, fmt.Errorf("failed to build the access policy authorizer: %w", err)
	}
	b.hooks = webhook.New(env, authorizer)
	ok := false
	defer func() {
		if !ok {
			_ = b.Close()
		}
	}()
	url, ca, err := b.serveWebhooks(opts.TempDir)
	if err != nil {
		return nil, err
	}
	kcfg, err := KyvernoConfigMap(opts.Kyverno)
	if err != nil {
		return nil, err
	}
	b.cp, err = Start(ctx, Options{
		BinDir: opts.BinDir, Logs: opts.Logs, Kyverno: true, KyvernoConfig: kcfg, TempDir: opts.TempDir, Timeout: opts.Timeout,
		Webhooks: &Webhooks{TokenURL: url + webhook.PathAuthenticate, AuthorizeURL: url + webhook.PathAuthorize, CA: ca},
	})
	if err != nil {
		return nil, err
	}
	b.caFile = b.cp.CAFile
	cfg := b.cp.RESTConfig()
	cfg.WarningHandler = rest.NoWarnings{}
	if b.admin, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if b.adminDyn, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if err := b.registerPodIdentity(ctx, url, ca); err != nil {
		return nil, err
	}
	if err := b.apply(ctx, objs); err != nil {
		return nil, err
	}
	wait := opts.PolicyReadyTimeout
	if wait == 0 {
		wait = 90 * time.Second
	}
	if err := b.waitPolicies(ctx, objs, wait); err != nil {
		return nil, err
	}
	ok = true
	return b, nil
}

// serveWebhooks serves the EKS webhooks (with the authorization answers recorded) on a
// loopback port, with a certificate signed by a fresh CA it returns.
func (b *Backend) serveWebhooks(tempDir string) (string, []byte, error) {
	dir, err := os.MkdirTemp(tempDir, "guardrail-webhooks-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(dir)
	p, err := writePKI(dir)
	if err != nil {
		return "", nil, err
	}
	cert, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("failed to listen for webhooks: %w", err)
	}
	b.serving = &http.Server{
		Handler:           b.reviews.wrap(b.grants.wrap(b.hooks.Handler())),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	srv := b.serving
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return "https://" + ln.Addr().String(), p.CA, nil
}

// registerPodIdentity registers the Pod Identity mutating webhook for pods.
func (b *Backend) registerPodIdentity(ctx context.Context, url string, ca []byte) error {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	u := url + webhook.PathMutatePods
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "guardrail-eks-pod-identity"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "pod-identity.guardrail.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: ca},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	_, err := b.admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register the Pod Identity webhook: %w", err)
	}
	// A validating webhook that records the dry-run admission requests (and allows them), so
	// a denial can be replayed to every Kyverno webhook: the API server reports only the
	// first webhook that denied.
	ignore := admissionregistrationv1.Ignore
	rec := url + pathRecordAdmission
	all := admissionregistrationv1.AllScopes
	timeout := int32(10)
	vcfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: recorderWebhook},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         "record.guardrail.dev",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &rec, CABundle: ca},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.OperationAll},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*/*"}, Scope: &all},
			}},
			MatchConditions:         []admissionregistrationv1.MatchCondition{{Name: "dry-run", Expression: "has(request.dryRun) && request.dryRun == true"}},
			FailurePolicy:           &ignore,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	_, err = b.admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vcfg, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register the admission recorder webhook: %w", err)
	}
	return nil
}

// apply server-side applies the overlay as the admin: namespaces first.
func (b *Backend) apply(ctx context.Context, objs []*unstructured.Unstructured) error {
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(b.admin.Discovery()))
	sorted := append([]*unstructured.Unstructured(nil), objs...)
	rank := func(o *unstructured.Unstructured) int {
		switch o.GetKind() {
		case "Namespace":
			return 0
		case "ClusterPolicy", "ValidatingPolicy":
			return 2
		}
		return 1
	}
	sort.SliceStable(sorted, func(i, j int) bool { return rank(sorted[i]) < rank(sorted[j]) })
	for _, o := range sorted {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			mapper.Reset()
			if m, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
				return fmt.Errorf("apply %s %s: %w", gvk.Kind, o.GetName(), err)
			}
		}
		var ri dynamic.ResourceInterface = b.adminDyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = b.adminDyn.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		if _, err := ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "guardrail", Force: true}); err != nil {
			return fmt.Errorf("apply %s %s/%s: %w", gvk.Kind, o.GetNamespace(), o.GetName(), err)
		}
	}
	return nil
}

// waitPolicies waits until every Kyverno policy of the overlay is Ready.
func (b *Backend) waitPolicies(ctx context.Context, objs []*unstructured.Unstructured, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, o := range objs {
		gvr, ok := policyGVR(o)
		if !ok {
			continue
		}
		for {
			p, err := b.adminDyn.Resource(gvr).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err == nil && policyReady(p) {
				break
			}
			if time.Now().After(deadline) {
				detail := ""
				if err != nil {
					detail = err.Error()
				} else {
					st, _, _ := unstructured.NestedMap(p.Object, "status")
					detail = fmt.Sprintf("status %v", st)
				}
				return fmt.Errorf("timed out after %s waiting for %s %s to be Ready: %s", timeout, o.GetKind(), o.GetName(), detail)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	// Kyverno marks a policy Ready and then reconfigures its webhooks; give the API server a
	// moment to pick up the new rules.
	time.Sleep(2 * time.Second)
	return nil
}

// policyReady reports whether a Kyverno policy is Ready: a ClusterPolicy has the condition
// Ready=True in status.conditions; a ValidatingPolicy (policies.kyverno.io) reports
// status.conditionStatus.ready and its own conditions there.
func policyReady(p *unstructured.Unstructured) bool {
	if conditionTrue(p, "Ready") {
		return true
	}
	ready, found, _ := unstructured.NestedBool(p.Object, "status", "conditionStatus", "ready")
	if found {
		return ready
	}
	conds, _, _ := unstructured.NestedSlice(p.Object, "status", "conditionStatus", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// policyGVR is the resource of a Kyverno policy object.
func policyGVR(o *unstructured.Unstructured) (schema.GroupVersionResource, bool) {
	gvk := o.GroupVersionKind()
	switch gvk.GroupKind().String() {
	case "ClusterPolicy.kyverno.io":
		return gvk.GroupVersion().WithResource("clusterpolicies"), true
	case "ValidatingPolicy.policies.kyverno.io":
		return gvk.GroupVersion().WithResource("validatingpolicies"), true
	}
	return schema.GroupVersionResource{}, false
}

// Name implements backend.Backend.
func (b *Backend) Name() string { return "local" }

// Env implements backend.Backend.
func (b *Backend) Env() *model.Env { return b.env }

// Policies implements backend.Backend.
func (b *Backend) Policies() []string { return append([]string(nil), b.policies...) }

// ControlPlane is the running control plane.
func (b *Backend) ControlPlane() *ControlPlane { return b.cp }

// Close implements backend.Backend.
func (b *Backend) Close() error {
	var err error
	if b.cp != nil {
		err = b.cp.Stop()
	}
	if b.serving != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if serr := b.serving.Shutdown(ctx); err == nil {
			err = serr
		}
	}
	return err
}

// Authenticate implements backend.Backend.
func (b *Backend) Authenticate(ctx context.Context, p identity.Principal) (*identity.Identity, error) {
	id, err := identity.Authenticate(b.env, p, b.sas)
	if err != nil {
		return nil, err
	}
	if p.Kind != identity.ServiceAccount {
		t := b.hooks.Register(id)
		b.mu.Lock()
		b.tokens[tokenKey(id)] = t
		b.mu.Unlock()
	}
	return id, nil
}

func tokenKey(id *identity.Identity) string { return id.Username + "\x00" + id.UID }

// token is the bearer token of an authenticated identity.
func (b *Backend) token(ctx context.Context, p identity.Principal, id *identity.Identity) (string, error) {
	b.mu.Lock()
	t, ok := b.tokens[tokenKey(id)]
	b.mu.Unlock()
	if ok {
		return t, nil
	}
	if p.Kind != identity.ServiceAccount {
		return "", fmt.Errorf("no token for %s", id.Username)
	}
	// The API server authenticates service account tokens itself: ask for one.
	var tr *authenticationv1.TokenRequest
	var err error
	exp := int64(3600)
	for i := 0; i < 100; i++ {
		tr, err = b.admin.CoreV1().ServiceAccounts(p.Namespace).CreateToken(ctx, p.ServiceAccount, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
		if !apierrors.IsNotFound(err) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the serviceaccount controller makes default
	}
	if err != nil {
		return "", fmt.Errorf("token for service account %s/%s: %w", p.Namespace, p.ServiceAccount, err)
	}
	b.mu.Lock()
	b.tokens[tokenKey(id)] = tr.Status.Token
	b.mu.Unlock()
	return tr.Status.Token, nil
}

func (b *Backend) userConfig(token string) *rest.Config {
	return &rest.Config{Host: b.cp.Server, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAFile: b.caFile}, WarningHandler: rest.NoWarnings{}, QPS: 100, Burst: 200}
}

// Do implements backend.Backend.
func (b *Backend) Do(ctx context.Context, p identity.Principal, a backend.Action) (backend.Verdict, error) {
	id, err := b.Authenticate(ctx, p)
	var authErr *identity.AuthError
	if errors.As(err, &authErr) {
		return backend.Verdict{Layer: backend.LayerAuthentication, Reason: authErr.Reason, Message: "Unauthorized"}, nil
	}
	if err != nil {
		return backend.Verdict{}, err
	}
	token, err := b.token(ctx, p, id)
	if err != nil {
		return backend.Verdict{}, err
	}
	cfg := b.userConfig(token)
	v := backend.Verdict{Identity: id}
	key := grantKey(id.Username, a)
	b.grants.forget(key)
	rkey := reviewKey(id.Username, a)
	b.reviews.forget(rkey)

	var reqErr error
	op := a.Operation()
	switch {
	case a.NonResourcePath != "":
		if reqErr = b.nonResource(ctx, cfg, a); reqErr != nil && !apierrors.IsForbidden(reqErr) && !apierrors.IsUnauthorized(reqErr) {
			if _, ok := reqErr.(apierrors.APIStatus); ok {
				reqErr = nil // past authorization: 404 and friends
			} else {
				return v, reqErr
			}
		}
	case a.AuthorizationOnly || !resourceVerb(a.Verb) && op != "CONNECT":
		return b.accessReview(ctx, cfg, id, a, key)
	case op == "CONNECT":
		v.Admitted = true
		reqErr = b.connect(ctx, cfg, a)
	default:
		if op != "" {
			v.Admitted = true
		}
		reqErr = b.resourceRequest(ctx, cfg, a)
	}
	if reqErr != nil && strings.Contains(reqErr.Error(), "failed calling webhook") {
		return backend.Verdict{}, fmt.Errorf("local: %s: an admission webhook could not be reached: %w", a, reqErr)
	}
	v = b.verdict(v, id, key, reqErr)
	if v.Layer == backend.LayerAdmission {
		if all, ok := b.replay(ctx, rkey); ok {
			v.Admission = all
			var msgs []string
			for _, r := range all {
				msgs = append(msgs, r.Message)
			}
			v.Message = strings.Join(msgs, "; ")
		}
	}
	return v, nil
}

// nonResource requests a non-resource URL as the user; a failure is an API status error with
// the response's status code and message.
func (b *Backend) nonResource(ctx context.Context, cfg *rest.Config, a backend.Action) error {
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, verbMethod(a.Verb), cfg.Host+a.NonResourcePath, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 300 {
		return nil
	}
	st := metav1.Status{}
	if json.Unmarshal(body, &st) != nil || st.Message == "" {
		st.Message = strings.TrimSpace(string(body))
	}
	st.Status, st.Code = metav1.StatusFailure, int32(resp.StatusCode)
	return &apierrors.StatusError{ErrStatus: st}
}

func verbMethod(verb string) string {
	switch verb {
	case "get", "list", "watch", "":
		return "GET"
	case "create":
		return "POST"
	case "update":
		return "PUT"
	}
	return strings.ToUpper(verb)
}

func resourceVerb(verb string) bool {
	switch verb {
	case "get", "list", "watch", "create", "update", "patch", "delete":
		return true
	}
	return false
}

// verdict maps the API server's answer to a verdict.
func (b *Backend) verdict(v backend.Verdict, id *identity.Identity, key string, err error) backend.Verdict {
	if err == nil {
		v.Allowed = true
		v.GrantLayer, v.Grant = b.grantLayer(id, key)
		return v
	}
	var status apierrors.APIStatus
	msg := err.Error()
	code := int32(0)
	if errors.As(err, &status) {
		msg, code = status.Status().Message, status.Status().Code
	}
	switch {
	case code == http.StatusUnauthorized:
		v.Identity = nil
		v.Layer, v.Reason, v.Message = backend.LayerAuthentication, msg, "Unauthorized"
	case strings.Contains(msg, "admission webhook") && strings.Contains(msg, "denied the request"):
		v.GrantLayer, v.Grant = b.grantLayer(id, key)
		v.Layer, v.Reason = backend.LayerAdmission, msg
		v.Admission = parseDenial(msg, b.policies)
		var msgs []string
		for _, r := range v.Admission {
			msgs = append(msgs, r.Message)
		}
		v.Message = strings.Join(msgs, "; ")
		if v.Message == "" {
			v.Message = msg
		}
	case code == http.StatusForbidden && strings.Contains(msg, "cannot "):
		v.Layer, v.Reason, v.Message = backend.LayerAuthorization, msg, msg
	default:
		// Any other error comes after authorization and admission (no host for exec, an
		// object that already exists, ...): the request got through.
		v.Allowed = true
		v.GrantLayer, v.Grant = b.grantLayer(id, key)
		v.Message = msg
	}
	return v
}

func (b *Backend) grantLayer(id *identity.Identity, key string) (layer, grant string) {
	for _, g := range id.Groups {
		if g == "system:masters" {
			return "system:masters", "system:masters"
		}
	}
	if reason, ok := b.grants.allowed(key); ok {
		return "access-policy", reason
	}
	return "rbac", "RBAC"
}

// parseDenial finds the denying policies in Kyverno's message. A ClusterPolicy denial reads
//
//	... denied the request: \n\nresource Kind/ns/name was blocked due to the following policies\n\npolicy:\n  rule: message
//
// and a ValidatingPolicy denial names the policy with its message.
func parseDenial(msg string, policies []string) []backend.AdmissionResult {
	known := map[string]bool{}
	for _, p := range policies {
		known[p] = true
	}
	var out []backend.AdmissionResult
	seen := map[string]bool{}
	current := ""
	for _, line := range strings.Split(msg, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasSuffix(t, ":") && known[strings.TrimSuffix(t, ":")] && !strings.HasPrefix(line, " ") {
			current = strings.TrimSuffix(t, ":")
			continue
		}
		if current != "" && strings.HasPrefix(line, " ") {
			rule, m, _ := strings.Cut(t, ": ")
			out = append(out, backend.AdmissionResult{Policy: current, Name: current, Rule: rule, Status: "fail", Message: strings.Trim(m, "'"), Enforce: true, Denies: true})
			seen[current] = true
		}
	}
	// Other formats: every known policy the message names (longest first, so a name that is a
	// prefix of another is not counted twice).
	names := append([]string(nil), policies...)
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	rest := msg
	for _, n := range names {
		if seen[n] || !strings.Contains(rest, n) {
			continue
		}
		rest = strings.ReplaceAll(rest, n, "")
		m := msg
		if _, after, ok := strings.Cut(msg, "denied the request: "); ok {
			m = strings.TrimSpace(after)
		}
		out = append(out, backend.AdmissionResult{Policy: n, Name: n, Status: "fail", Message: m, Enforce: true, Denies: true})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// accessReview asks a SelfSubjectAccessReview as the user.
func (b *Backend) accessReview(ctx context.Context, cfg *rest.Config, id *identity.Identity, a backend.Action, key string) (backend.Verdict, error) {
	v := backend.Verdict{Identity: id}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return v, err
	}
	sar := &authorizationv1.SelfSubjectAccessReview{}
	if a.NonResourcePath != "" {
		sar.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: a.NonResourcePath, Verb: a.Verb}
	} else {
		sar.Spec.ResourceAttributes = &authorizationv1.ResourceAttributes{
			Namespace: a.Namespace, Verb: a.Verb, Group: a.Resource.GVR.Group, Version: a.Resource.GVR.Version,
			Resource: a.Resource.GVR.Resource, Subresource: a.Resource.Subresource, Name: a.Name,
		}
	}
	res, err := kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return b.verdict(v, id, key, err), nil
	}
	if !res.Status.Allowed {
		v.Layer, v.Reason, v.Message = backend.LayerAuthorization, res.Status.Reason, res.Status.Reason
		if v.Reason == "" {
			v.Reason = fmt.Sprintf("%s cannot %s", id.Username, a)
			v.Message = v.Reason
		}
		return v, nil
	}
	v.Allowed = true
	v.GrantLayer, v.Grant = b.grantLayer(id, key)
	return v, nil
}

// resourceRequest sends a get/list/watch/create/update/patch/delete as the user; writes are
// dry runs.
func (b *Backend) resourceRequest(ctx context.Context, cfg *rest.Config, a backend.Action) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ri := b.resourceClient(dyn, a)
	dry := []string{metav1.DryRunAll}
	switch a.Verb {
	case "get", "list", "watch":
		if a.Verb == "get" && a.Name != "" {
			_, err = ri.Get(ctx, a.Name, metav1.GetOptions{})
		} else if a.Verb == "watch" {
			timeout := int64(1)
			var w interface{ Stop() }
			if w, err = ri.Watch(ctx, metav1.ListOptions{TimeoutSeconds: &timeout}); err == nil {
				w.Stop()
			}
		} else {
			_, err = ri.List(ctx, metav1.ListOptions{Limit: 1})
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	case "create":
		if err := b.ensureNamespace(ctx, a); err != nil {
			return err
		}
		obj, err := a.Manifest()
		if err != nil {
			return err
		}
		_, err = ri.Create(ctx, obj, metav1.CreateOptions{DryRun: dry})
		if apierrors.IsAlreadyExists(err) {
			return nil // past admission
		}
		return err
	}
	stored, err := b.ensureObject(ctx, a)
	if err != nil {
		return err
	}
	switch a.Verb {
	case "update":
		obj := stored
		if a.Object != nil {
			if obj, err = a.Manifest(); err != nil {
				return err
			}
			obj.SetResourceVersion(stored.GetResourceVersion())
		}
		_, err = ri.Update(ctx, obj, metav1.UpdateOptions{DryRun: dry})
	case "patch":
		_, err = ri.Patch(ctx, a.Name, types.MergePatchType, []byte(`{"metadata":{"annotations":{"guardrail.dev/probe":"patch"}}}`), metav1.PatchOptions{DryRun: dry})
	case "delete":
		err = ri.Delete(ctx, a.Name, metav1.DeleteOptions{DryRun: dry})
	}
	return err
}

func (b *Backend) resourceClient(dyn dynamic.Interface, a backend.Action) dynamic.ResourceInterface {
	if a.Resource.Namespaced {
		return dyn.Resource(a.Resource.GVR).Namespace(a.Namespace)
	}
	return dyn.Resource(a.Resource.GVR)
}

func (b *Backend) ensureNamespace(ctx context.Context, a backend.Action) error {
	if !a.Resource.Namespaced || a.Namespace == "" {
		return nil
	}
	_, err := b.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: a.Namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s as admin: %w", a.Namespace, err)
	}
	return nil
}

// ensureObject creates the action's object as the admin unless it exists, and returns it.
func (b *Backend) ensureObject(ctx context.Context, a backend.Action) (*unstructured.Unstructured, error) {
	if err := b.ensureNamespace(ctx, a); err != nil {
		return nil, err
	}
	ri := b.resourceClient(b.adminDyn, a)
	if u, err := ri.Get(ctx, a.Name, metav1.GetOptions{}); err == nil {
		return u, nil
	}
	obj, err := a.Manifest()
	if err != nil {
		return nil, err
	}
	u, err := ri.Create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return ri.Get(ctx, a.Name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("create %s as admin: %w", a, err)
	}
	return u, nil
}

// connect opens pods/exec (attach, portforward, proxy) as the user on a pod the admin made.
func (b *Backend) connect(ctx context.Context, cfg *rest.Config, a backend.Action) error {
	pod := a
	pod.Verb, pod.Object, pod.Resource.Subresource = "create", nil, ""
	if _, err := b.ensureObject(ctx, pod); err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	req := kube.CoreV1().RESTClient().Post().Namespace(a.Namespace).Resource(a.Resource.GVR.Resource).Name(a.Name).SubResource(a.Resource.Subresource)
	if a.Resource.Subresource == "exec" {
		req = req.Param("command", "true").Param("stdout", "true")
	}
	return req.Do(ctx).Error()
}

// PodCredentials implements backend.Backend: a pod made as the admin, read back.
func (b *Backend) PodCredentials(ctx context.Context, ns, sa string) (podidentity.Credentials, bool, error) {
	if _, err := b.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return podidentity.Credentials{}, false, err
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "guardrail-credentials-", Namespace: ns},
		Spec:       corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "main", Image: "busybox"}}},
	}
	var created *corev1.Pod
	var err error
	for i := 0; i < 100; i++ { // the service account may still be on its way
		created, err = b.admin.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "serviceaccount") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return podidentity.Credentials{}, false, fmt.Errorf("create a pod as %s/%s: %w", ns, sa, err)
	}
	defer func() {
		zero := int64(0)
		_ = b.admin.CoreV1().Pods(ns).Delete(context.Background(), created.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}()
	stored, err := b.admin.CoreV1().Pods(ns).Get(ctx, created.Name, metav1.GetOptions{})
	if err != nil {
		return podidentity.Credentials{}, false, err
	}
	injected := false
	for _, c := range stored.Spec.Containers {
		for _, e := range c.Env {
			if e.Name == "AWS_CONTAINER_CREDENTIALS_FULL_URI" {
				injected = true
			}
		}
	}
	if !injected {
		return podidentity.Credentials{}, false, nil
	}
	c, ok := podidentity.For(b.env, ns, sa, stored.Name, string(stored.UID))
	return c, ok, nil
}

// grantRecorder remembers which requests the access policy webhook allowed.
type grantRecorder struct {
	mu   sync.Mutex
	seen map[string]string // grant key → reason
}

func grantKey(user string, a backend.Action) string {
	if a.NonResourcePath != "" {
		return strings.Join([]string{user, verbMethodLower(a.Verb), a.NonResourcePath}, "|")
	}
	ns := a.Namespace
	if !a.Resource.Namespaced {
		ns = ""
	}
	verb := a.Verb
	if a.Operation() == "CONNECT" {
		verb = "create"
	}
	return strings.Join([]string{user, verb, a.Resource.GVR.Group, a.Resource.GVR.Resource, a.Resource.Subresource, ns}, "|")
}

func verbMethodLower(v string) string { return strings.ToLower(v) }

func sarKey(sar *authorizationv1.SubjectAccessReview) string {
	if nra := sar.Spec.NonResourceAttributes; nra != nil {
		return strings.Join([]string{sar.Spec.User, nra.Verb, nra.Path}, "|")
	}
	if ra := sar.Spec.ResourceAttributes; ra != nil {
		return strings.Join([]string{sar.Spec.User, ra.Verb, ra.Group, ra.Resource, ra.Subresource, ra.Namespace}, "|")
	}
	return ""
}

func (g *grantRecorder) forget(key string) {
	g.mu.Lock()
	delete(g.seen, key)
	g.mu.Unlock()
}

func (g *grantRecorder) allowed(key string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.seen[key]
	return r, ok
}

// wrap records the allowed answers of POST /authorize.
func (g *grantRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != webhook.PathAuthorize {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recorder{header: http.Header{}, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		var sar authorizationv1.SubjectAccessReview
		if json.Unmarshal(rec.body.Bytes(), &sar) == nil && sar.Status.Allowed {
			if k := sarKey(&sar); k != "" {
				g.mu.Lock()
				g.seen[k] = sar.Status.Reason
				g.mu.Unlock()
			}
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		_, _ = w.Write(rec.body.Bytes())
	})
}

type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.code = code }
func (r *recorder) Write(p []byte) (int, error) { return r.body.Write(p) }

const (
	pathRecordAdmission = "/record-admission"
	recorderWebhook     = "guardrail-admission-recorder"
)

// reviewRecorder keeps the last dry-run AdmissionReview of each request key.
type reviewRecorder struct {
	mu   sync.Mutex
	seen map[string][]byte
}

// reviewKey identifies an admission request: user, operation, resource and object.
func reviewKey(user string, a backend.Action) string {
	ns := a.Namespace
	if !a.Resource.Namespaced {
		ns = ""
	}
	if a.Resource.GVK.Group == "" && a.Resource.GVK.Kind == "Namespace" && a.Resource.Subresource == "" {
		ns = a.Name // the API server sets it on every operation, CREATE included
	}
	return strings.Join([]string{user, a.Operation(), a.Resource.GVR.Group, a.Resource.GVR.Resource, a.Resource.Subresource, ns, a.Name}, "|")
}

func admissionKey(r *admissionv1.AdmissionRequest) string {
	return strings.Join([]string{r.UserInfo.Username, string(r.Operation), r.Resource.Group, r.Resource.Resource, r.SubResource, r.Namespace, r.Name}, "|")
}

func (g *reviewRecorder) forget(key string) {
	g.mu.Lock()
	delete(g.seen, key)
	g.mu.Unlock()
}

func (g *reviewRecorder) get(key string) []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.seen[key]
}

// wrap serves pathRecordAdmission: record the review, allow it.
func (g *reviewRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != pathRecordAdmission {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		var review admissionv1.AdmissionReview
		if err == nil {
			err = json.Unmarshal(body, &review)
		}
		if err != nil || review.Request == nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		g.seen[admissionKey(review.Request)] = body
		g.mu.Unlock()
		review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		review.Request = nil
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(review)
	})
}

// replay sends the recorded admission request of a denied action to every Kyverno validating
// webhook whose rules match it and returns every denying policy, in Kyverno's words.
func (b *Backend) replay(ctx context.Context, key string) ([]backend.AdmissionResult, bool) {
	raw := b.reviews.get(key)
	if raw == nil {
		return nil, false
	}
	var review admissionv1.AdmissionReview
	if json.Unmarshal(raw, &review) != nil || review.Request == nil {
		return nil, false
	}
	req := review.Request
	cfgs, err := b.admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, false
	}
	var out []backend.AdmissionResult
	seen := map[string]bool{}
	asked := 0
	for _, cfg := range cfgs.Items {
		if cfg.Name == recorderWebhook || cfg.Name == KyvernoPolicyWebhook {
			continue
		}
		for _, wh := range cfg.Webhooks {
			if wh.ClientConfig.URL == nil || !rulesMatch(wh.Rules, req) {
				continue
			}
			asked++
			msg, denied, err := postReview(ctx, *wh.ClientConfig.URL, wh.ClientConfig.CABundle, raw)
			if err != nil {
				return nil, false
			}
			if !denied {
				continue
			}
			for _, r := range parseDenial("admission webhook \""+wh.Name+"\" denied the request: "+msg, b.policies) {
				k := r.Name + "\x00" + r.Rule
				if !seen[k] {
					seen[k] = true
					out = append(out, r)
				}
			}
		}
	}
	if asked == 0 || len(out) == 0 {
		return nil, false
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, true
}

func rulesMatch(rules []admissionregistrationv1.RuleWithOperations, req *admissionv1.AdmissionRequest) bool {
	res := req.Resource.Resource
	if req.SubResource != "" {
		res += "/" + req.SubResource
	}
	for _, r := range rules {
		opOK := false
		for _, op := range r.Operations {
			if op == admissionregistrationv1.OperationAll || string(op) == string(req.Operation) {
				opOK = true
			}
		}
		if !opOK || !(contains(r.APIGroups, "*") || contains(r.APIGroups, req.Resource.Group)) {
			continue
		}
		for _, x := range r.Resources {
			if x == "*/*" || x == res || (x == "*" && req.SubResource == "") ||
				(strings.HasSuffix(x, "/*") && strings.TrimSuffix(x, "/*") == req.Resource.Resource && req.SubResource != "") ||
				(strings.HasPrefix(x, "*/") && req.SubResource == strings.TrimPrefix(x, "*/")) {
				return true
			}
		}
	}
	return false
}

// postReview sends an AdmissionReview to a webhook and reports its denial.
func postReview(ctx context.Context, url string, caBundle, review []byte) (string, bool, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caBundle)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(review))
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return "", false, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", false, fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &out); err != nil || out.Response == nil {
		return "", false, fmt.Errorf("POST %s: no AdmissionReview response", url)
	}
	if out.Response.Allowed {
		return "", false, nil
	}
	msg := ""
	if out.Response.Result != nil {
		msg = out.Response.Result.Message
	}
	return msg, true, nil
}

var _ backend.Backend = (*Backend)(nil)
