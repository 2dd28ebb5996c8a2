package live

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"guardrail.dev/guardrail/compiler/model"
	"guardrail.dev/guardrail/simulator/authz"
	"guardrail.dev/guardrail/simulator/backend"
	"guardrail.dev/guardrail/simulator/backend/offline"
	"guardrail.dev/guardrail/simulator/identity"
	"guardrail.dev/guardrail/simulator/podidentity"
	"guardrail.dev/guardrail/simulator/webhook"
)

// Names of the admission webhooks guardrail registers in a live cluster.
const (
	PodIdentityWebhook = "guardrail-eks-pod-identity"
	RecorderWebhook    = "guardrail-admission-recorder"
	pathRecord         = "/record-admission"
)

// Webhooks serves guardrail's EKS webhooks for one environment over TLS (package webhook:
// token authentication, access-policy authorization, Pod Identity), remembering which
// requests the access-policy webhook allowed and the dry-run admission reviews, so that a
// Cluster can say what granted a request and replay a denial.
type Webhooks struct {
	hooks   *webhook.Server
	serving *webhook.Serving
	grants  *grantRecorder
	reviews *reviewRecorder
}

// ServeWebhooks serves the environment's webhooks on a free port of ip, which the API
// server must reach: 127.0.0.1 for a local control plane, the container bridge's gateway for
// a kind node.
func ServeWebhooks(env *model.Env, ip net.IP) (*Webhooks, error) {
	authorizer, err := authz.New(authz.RBACObjects{}, offline.Associations(env))
	if err != nil {
		return nil, fmt.Errorf("failed to build the access policy authorizer: %w", err)
	}
	w := &Webhooks{
		hooks:   webhook.New(env, authorizer),
		grants:  &grantRecorder{seen: map[string]string{}},
		reviews: &reviewRecorder{seen: map[string][]byte{}},
	}
	if w.serving, err = webhook.ServeHandler(ip, w.reviews.wrap(w.grants.wrap(w.hooks.Handler()))); err != nil {
		return nil, err
	}
	return w, nil
}

// URL is the base URL of the webhooks, https://IP:PORT; the API server's token webhook is
// URL+webhook.PathAuthenticate and its authorization webhook URL+webhook.PathAuthorize.
func (w *Webhooks) URL() string { return w.serving.URL }

// CA is the PEM certificate that verifies the webhooks.
func (w *Webhooks) CA() []byte { return w.serving.CAPEM }

// Close stops serving.
func (w *Webhooks) Close() error { return w.serving.Close() }

// Options configures Connect.
type Options struct {
	// Name is the backend's name: local or kind.
	Name string
	// Admin is a configuration with cluster-admin power; guardrail's own setup uses it,
	// never a scenario.
	Admin *rest.Config
	// ApplyTimeout bounds the apply of the overlay (retried while CRDs and webhooks come up);
	// 0 means two minutes.
	ApplyTimeout time.Duration
	// PolicyReadyTimeout bounds the wait for the overlay's Kyverno policies to be Ready; 0
	// means 90 s.
	PolicyReadyTimeout time.Duration
}

// Cluster runs actions against a real API server whose authentication and authorization
// webhooks are Webhooks, with Kyverno installed: every scenario identity calls it with its own
// bearer token, so the API server decides authentication, RBAC, access policies and
// admission. It implements backend.Backend but for Close, which the backend that started
// the API server wraps.
type Cluster struct {
	name     string
	env      *model.Env
	w        *Webhooks
	base     *rest.Config
	admin    kubernetes.Interface
	adminDyn dynamic.Interface

	sas      map[string]bool
	policies []string

	mu     sync.Mutex
	tokens map[string]string // identity key → bearer token
}

// Connect registers the Pod Identity and recorder webhooks in the cluster, server-side
// applies the overlay as the admin and waits for its Kyverno policies to be Ready.
func Connect(ctx context.Context, env *model.Env, w *Webhooks, overlay []*unstructured.Unstructured, opts Options) (*Cluster, error) {
	base := rest.CopyConfig(opts.Admin)
	base.WarningHandler = rest.NoWarnings{}
	c := &Cluster{name: opts.Name, env: env, w: w, base: base, sas: map[string]bool{}, tokens: map[string]string{}}
	var err error
	if c.admin, err = kubernetes.NewForConfig(base); err != nil {
		return nil, err
	}
	if c.adminDyn, err = dynamic.NewForConfig(base); err != nil {
		return nil, err
	}
	for _, o := range overlay {
		switch o.GroupVersionKind().GroupKind().String() {
		case "Namespace":
			c.sas[o.GetName()+"/default"] = true
		case "ServiceAccount":
			c.sas[o.GetNamespace()+"/"+o.GetName()] = true
		case "ClusterPolicy.kyverno.io", "ValidatingPolicy.policies.kyverno.io":
			c.policies = append(c.policies, o.GetName())
		}
	}
	sort.Strings(c.policies)
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		c.sas[ns+"/default"] = true
	}
	if err := c.registerWebhooks(ctx); err != nil {
		return nil, err
	}
	applyTimeout := opts.ApplyTimeout
	if applyTimeout == 0 {
		applyTimeout = 2 * time.Minute
	}
	if err := Apply(ctx, base, overlay, applyTimeout); err != nil {
		return nil, fmt.Errorf("apply the overlay: %w", err)
	}
	wait := opts.PolicyReadyTimeout
	if wait == 0 {
		wait = 90 * time.Second
	}
	if err := WaitPolicies(ctx, c.adminDyn, overlay, wait); err != nil {
		return nil, err
	}
	return c, nil
}

// registerWebhooks registers the Pod Identity mutating webhook for pods and the validating
// webhook that records dry-run admission reviews.
func (c *Cluster) registerWebhooks(ctx context.Context) error {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	u := c.w.URL() + webhook.PathMutatePods
	ca := c.w.CA()
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: PodIdentityWebhook},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "pod-identity.guardrail.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: ca},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	_, err := c.admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register the Pod Identity webhook: %w", err)
	}
	// A validating webhook that records the dry-run admission requests (and allows them), so
	// a denial can be replayed to every Kyverno webhook: the API server reports only the
	// first webhook that denied.
	ignore := admissionregistrationv1.Ignore
	rec := c.w.URL() + pathRecord
	all := admissionregistrationv1.AllScopes
	timeout := int32(10)
	vcfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: RecorderWebhook},
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
	_, err = c.admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vcfg, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register the admission recorder webhook: %w", err)
	}
	return nil
}

// Unregister removes guardrail's admission webhooks from the cluster, for a cluster that
// outlives this process (kind --keep): without them pod creation would fail once the Pod
// Identity webhook is gone.
func (c *Cluster) Unregister(ctx context.Context) error {
	err := c.admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, PodIdentityWebhook, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	err = c.admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, RecorderWebhook, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// Name implements backend.Backend.
func (c *Cluster) Name() string { return c.name }

// Env implements backend.Backend.
func (c *Cluster) Env() *model.Env { return c.env }

// Policies implements backend.Backend: the Kyverno policies of the overlay.
func (c *Cluster) Policies() []string { return append([]string(nil), c.policies...) }

// Admin is the admin client.
func (c *Cluster) Admin() kubernetes.Interface { return c.admin }

// Authenticate implements backend.Backend: the environment's mapping, the same one the token
// webhook serves; every identity but a service account gets its own bearer token.
func (c *Cluster) Authenticate(ctx context.Context, p identity.Principal) (*identity.Identity, error) {
	id, err := identity.Authenticate(c.env, p, c.sas)
	if err != nil {
		return nil, err
	}
	if p.Kind != identity.ServiceAccount {
		t := c.w.hooks.Register(id)
		c.mu.Lock()
		c.tokens[tokenKey(id)] = t
		c.mu.Unlock()
	}
	return id, nil
}

func tokenKey(id *identity.Identity) string { return id.Username + "\x00" + id.UID }

// token is the bearer token of an authenticated identity; a service account's comes from the
// API server (TokenRequest).
func (c *Cluster) token(ctx context.Context, p identity.Principal, id *identity.Identity) (string, error) {
	c.mu.Lock()
	t, ok := c.tokens[tokenKey(id)]
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	if p.Kind != identity.ServiceAccount {
		return "", fmt.Errorf("no token for %s", id.Username)
	}
	var tr *authenticationv1.TokenRequest
	var err error
	exp := int64(3600)
	for i := 0; i < 100; i++ {
		tr, err = c.admin.CoreV1().ServiceAccounts(p.Namespace).CreateToken(ctx, p.ServiceAccount, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
		if !apierrors.IsNotFound(err) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the serviceaccount controller makes default
	}
	if err != nil {
		return "", fmt.Errorf("token for service account %s/%s: %w", p.Namespace, p.ServiceAccount, err)
	}
	c.mu.Lock()
	c.tokens[tokenKey(id)] = tr.Status.Token
	c.mu.Unlock()
	return tr.Status.Token, nil
}

// userConfig is the API server, as the admin reaches it, with a scenario identity's token.
func (c *Cluster) userConfig(token string) *rest.Config {
	cfg := rest.AnonymousClientConfig(c.base)
	cfg.BearerToken = token
	cfg.WarningHandler = rest.NoWarnings{}
	cfg.QPS, cfg.Burst = 100, 200
	return cfg
}

// Do implements backend.Backend.
func (c *Cluster) Do(ctx context.Context, p identity.Principal, a backend.Action) (backend.Verdict, error) {
	id, err := c.Authenticate(ctx, p)
	if v, denied := backend.AuthenticationVerdict(err); denied {
		return v, nil
	}
	if err != nil {
		return backend.Verdict{}, err
	}
	token, err := c.token(ctx, p, id)
	if err != nil {
		return backend.Verdict{}, err
	}
	cfg := c.userConfig(token)
	v := backend.Verdict{Identity: id}
	key := grantKey(id.Username, a)
	c.w.grants.forget(key)
	rkey := reviewKey(id.Username, a)
	c.w.reviews.forget(rkey)
	grant := func() (string, string) { return c.grantLayer(id, key) }

	var reqErr error
	op := a.Operation()
	switch {
	case a.NonResourcePath != "":
		reqErr = NonResource(ctx, cfg, a)
		if _, ok := reqErr.(apierrors.APIStatus); reqErr != nil && !ok {
			return v, reqErr
		}
	case a.AuthorizationOnly || !ResourceVerb(a.Verb) && op != "CONNECT":
		allowed, reason, err := AccessReview(ctx, cfg, id, a)
		if err != nil {
			return Verdict(v, err, c.policies, grant), nil
		}
		if !allowed {
			v.Layer, v.Reason, v.Message = backend.LayerAuthorization, reason, reason
			return v, nil
		}
		v.Allowed = true
		v.GrantLayer, v.Grant = grant()
		return v, nil
	case op == "CONNECT":
		v.Admitted = true
		reqErr = c.connect(ctx, cfg, a)
	default:
		v.Admitted = op != ""
		reqErr = c.resourceRequest(ctx, cfg, a)
	}
	if WebhookUnreachable(reqErr) {
		return backend.Verdict{}, fmt.Errorf("%s: %s: an admission webhook could not be reached: %w", c.name, a, reqErr)
	}
	v = Verdict(v, reqErr, c.policies, grant)
	if v.Layer == backend.LayerAdmission {
		if raw := c.w.reviews.get(rkey); raw != nil {
			if all, ok := Replay(ctx, c.admin, raw, c.policies); ok {
				v.Admission = all
				v.Message = Messages(all)
			}
		}
	}
	return v, nil
}

func (c *Cluster) grantLayer(id *identity.Identity, key string) (layer, grant string) {
	for _, g := range id.Groups {
		if g == "system:masters" {
			return "system:masters", "system:masters"
		}
	}
	if reason, ok := c.w.grants.allowed(key); ok {
		return "access-policy", reason
	}
	return "rbac", "RBAC"
}

// resourceRequest sends a get/list/watch/create/update/patch/delete as the user; writes are
// dry runs of objects the admin made when they were missing.
func (c *Cluster) resourceRequest(ctx context.Context, cfg *rest.Config, a backend.Action) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ri := Resources(dyn, a)
	dry := []string{metav1.DryRunAll}
	switch a.Verb {
	case "get", "list", "watch":
		return Read(ctx, ri, a)
	case "create":
		if err := c.ensureNamespace(ctx, a); err != nil {
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
	stored, err := c.ensureObject(ctx, a)
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

func (c *Cluster) ensureNamespace(ctx context.Context, a backend.Action) error {
	if !a.Resource.Namespaced || a.Namespace == "" {
		return nil
	}
	_, err := c.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: a.Namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s as admin: %w", a.Namespace, err)
	}
	return nil
}

// ensureObject creates the action's object as the admin unless it exists, and returns it.
func (c *Cluster) ensureObject(ctx context.Context, a backend.Action) (*unstructured.Unstructured, error) {
	if err := c.ensureNamespace(ctx, a); err != nil {
		return nil, err
	}
	ri := Resources(c.adminDyn, a)
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
func (c *Cluster) connect(ctx context.Context, cfg *rest.Config, a backend.Action) error {
	pod := a
	pod.Verb, pod.Object, pod.Resource.Subresource = "create", nil, ""
	if _, err := c.ensureObject(ctx, pod); err != nil {
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

// PodCredentials implements backend.Backend: a pod made as the admin, read back as the API
// server stored it after the Pod Identity webhook.
func (c *Cluster) PodCredentials(ctx context.Context, ns, sa string) (podidentity.Credentials, bool, error) {
	if _, err := c.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return podidentity.Credentials{}, false, err
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "guardrail-credentials-", Namespace: ns},
		Spec:       corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "main", Image: "busybox"}}},
	}
	var created *corev1.Pod
	var err error
	for i := 0; i < 100; i++ { // the service account may still be on its way
		created, err = c.admin.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
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
		_ = c.admin.CoreV1().Pods(ns).Delete(context.Background(), created.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}()
	stored, err := c.admin.CoreV1().Pods(ns).Get(ctx, created.Name, metav1.GetOptions{})
	if err != nil {
		return podidentity.Credentials{}, false, err
	}
	injected := false
	for _, ctr := range stored.Spec.Containers {
		for _, e := range ctr.Env {
			if e.Name == "AWS_CONTAINER_CREDENTIALS_FULL_URI" {
				injected = true
			}
		}
	}
	if !injected {
		return podidentity.Credentials{}, false, nil
	}
	creds, ok := podidentity.For(c.env, ns, sa, stored.Name, string(stored.UID))
	return creds, ok, nil
}

// grantRecorder remembers which requests the access policy webhook allowed.
type grantRecorder struct {
	mu   sync.Mutex
	seen map[string]string // grant key → reason
}

func grantKey(user string, a backend.Action) string {
	if a.NonResourcePath != "" {
		return strings.Join([]string{user, strings.ToLower(a.Verb), a.NonResourcePath}, "|")
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

// reviewRecorder keeps the last dry-run AdmissionReview of each request key.
type reviewRecorder struct {
	mu   sync.Mutex
	seen map[string][]byte
}

// reviewKey identifies an admission request: user, operation, resource and object. A request
// about a Namespace carries the namespace's own name as its namespace on every operation,
// CREATE included (k8s.io/apiserver/pkg/endpoints/handlers/create.go).
func reviewKey(user string, a backend.Action) string {
	ns := a.Namespace
	if !a.Resource.Namespaced {
		ns = ""
	}
	if a.Resource.GVK.Group == "" && a.Resource.GVK.Kind == "Namespace" && a.Resource.Subresource == "" {
		ns = a.Name
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

// wrap serves pathRecord: record the review, allow it.
func (g *reviewRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != pathRecord {
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
