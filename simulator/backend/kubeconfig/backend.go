package kubeconfig

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"guardrail.dev/guardrail/compiler/model"
	"guardrail.dev/guardrail/simulator/authz"
	"guardrail.dev/guardrail/simulator/backend"
	"guardrail.dev/guardrail/simulator/backend/live"
	"guardrail.dev/guardrail/simulator/backend/offline"
	"guardrail.dev/guardrail/simulator/identity"
	"guardrail.dev/guardrail/simulator/podidentity"
)

// Options says which cluster to use.
type Options struct {
	// Kubeconfig is the kubeconfig file; "" uses the default loading rules ($KUBECONFIG, then
	// ~/.kube/config).
	Kubeconfig string
	// Context is the kubeconfig context; "" uses the current context.
	Context string
}

// Backend runs actions against an existing cluster, read-only: reads, dry-run writes, as the
// kubeconfig's user impersonating the scenario's identity. See the package documentation.
type Backend struct {
	env      *model.Env
	base     *rest.Config
	admin    kubernetes.Interface
	adminDyn dynamic.Interface
	policies []string
	// accessPolicies answers from the environment's access policy associations only.
	accessPolicies *authz.Authorizer
}

// New connects to the cluster of the kubeconfig and checks that it answers.
func New(ctx context.Context, env *model.Env, rendered []byte, opts Options) (*Backend, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if opts.Kubeconfig != "" {
		rules.ExplicitPath = opts.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: opts.Context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.WarningHandler = rest.NoWarnings{}
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	b := &Backend{env: env, base: cfg}
	if b.admin, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	if b.adminDyn, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	if b.policies, err = renderedPolicies(rendered); err != nil {
		return nil, err
	}
	if b.accessPolicies, err = authz.New(authz.RBACObjects{}, offline.Associations(env)); err != nil {
		return nil, fmt.Errorf("failed to build the access policy authorizer: %w", err)
	}
	if err := b.admin.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Error(); err != nil {
		return nil, fmt.Errorf("kubeconfig: the cluster %s does not answer: %w", cfg.Host, err)
	}
	return b, nil
}

// renderedPolicies are the names of the Kyverno policies of rendered.yaml, sorted.
func renderedPolicies(rendered []byte) ([]string, error) {
	objs, err := live.Decode(rendered, "rendered.yaml")
	if err != nil {
		return nil, fmt.Errorf("failed to read rendered manifests: %w", err)
	}
	var out []string
	for _, u := range objs {
		switch u.GroupVersionKind().GroupKind().String() {
		case "ClusterPolicy.kyverno.io", "ValidatingPolicy.policies.kyverno.io":
			out = append(out, u.GetName())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Name implements backend.Backend.
func (b *Backend) Name() string { return "kubeconfig" }

// Env implements backend.Backend.
func (b *Backend) Env() *model.Env { return b.env }

// Policies implements backend.Backend: the Kyverno policies of the rendered overlay.
func (b *Backend) Policies() []string { return append([]string(nil), b.policies...) }

// Close implements backend.Backend; nothing was started.
func (b *Backend) Close() error { return nil }

// Authenticate implements backend.Backend: the environment's mapping; a service account must
// exist in the cluster.
func (b *Backend) Authenticate(ctx context.Context, p identity.Principal) (*identity.Identity, error) {
	sas := map[string]bool{}
	if p.Kind == identity.ServiceAccount {
		ok, err := b.serviceAccountExists(ctx, p.Namespace, p.ServiceAccount)
		if err != nil {
			return nil, err
		}
		sas[p.Namespace+"/"+p.ServiceAccount] = ok
	}
	return identity.Authenticate(b.env, p, sas)
}

func (b *Backend) serviceAccountExists(ctx context.Context, ns, name string) (bool, error) {
	_, err := b.admin.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read service account %s/%s: %w", ns, name, err)
	}
	return true, nil
}

// PodCredentials implements backend.Backend: the environment's Pod Identity association of a
// service account that exists in the cluster. The injection itself is not checked.
func (b *Backend) PodCredentials(ctx context.Context, ns, sa string) (podidentity.Credentials, bool, error) {
	ok, err := b.serviceAccountExists(ctx, ns, sa)
	if err != nil || !ok {
		return podidentity.Credentials{}, false, err
	}
	c, ok := podidentity.For(b.env, ns, sa, "pod", "00000000-0000-0000-0000-000000000000")
	return c, ok, nil
}

// impersonating is the kubeconfig's configuration impersonating the identity.
func (b *Backend) impersonating(id *identity.Identity) *rest.Config {
	cfg := rest.CopyConfig(b.base)
	var groups []string
	for _, g := range id.Groups {
		if g != identity.GroupAuthenticated {
			groups = append(groups, g)
		}
	}
	extra := map[string][]string{}
	for k, v := range id.Extra {
		extra[k] = append([]string(nil), v...)
	}
	cfg.Impersonate = rest.ImpersonationConfig{UserName: id.Username, Groups: groups, Extra: extra}
	return cfg
}

// accessPolicyError is the error of an RBAC denial that an EKS access policy of the
// environment would have allowed: impersonated requests are authorized without them, so the
// denial says nothing about the real identity. nil when no access policy would allow it (the
// denial then holds on EKS too).
func (b *Backend) accessPolicyError(ctx context.Context, id *identity.Identity, a backend.Action) error {
	if id == nil || id.AccessEntryARN == "" {
		return nil
	}
	extra := map[string][]string{}
	for k, v := range id.Extra {
		extra[k] = v
	}
	d := b.accessPolicies.AuthorizeAccessPolicies(ctx, authz.Request{
		User:         &user.DefaultInfo{Name: id.Username, UID: id.UID, Groups: id.Groups, Extra: extra},
		PrincipalARN: id.AccessEntryARN,
		Verb:         a.Verb, APIGroup: a.Resource.GVR.Group, Resource: a.Resource.GVR.Resource, Subresource: a.Resource.Subresource,
		Name: a.Name, Namespace: a.Namespace, NonResourcePath: a.NonResourcePath,
	})
	if !d.Allowed {
		return nil
	}
	return fmt.Errorf("not verifiable through impersonation: access policies of %s do not apply to impersonated requests (eks-facts §1.5); the environment's %s (%s) would allow %s", id.AccessEntryARN, d.Policy, d.Scope, a)
}

// Do implements backend.Backend.
func (b *Backend) Do(ctx context.Context, p identity.Principal, a backend.Action) (backend.Verdict, error) {
	id, err := b.Authenticate(ctx, p)
	if v, denied := backend.AuthenticationVerdict(err); denied {
		return v, nil
	}
	if err != nil {
		return backend.Verdict{}, err
	}
	cfg := b.impersonating(id)
	v := backend.Verdict{Identity: id}
	op := a.Operation()
	var reqErr error
	var review *admissionv1.AdmissionRequest
	switch {
	case a.NonResourcePath != "":
		reqErr = live.NonResource(ctx, cfg, a)
		if _, ok := reqErr.(apierrors.APIStatus); reqErr != nil && !ok {
			return backend.Verdict{}, reqErr
		}
	case a.AuthorizationOnly || !live.ResourceVerb(a.Verb) && op != "CONNECT":
		return b.accessReview(ctx, cfg, id, a)
	case op == "CONNECT":
		return backend.Verdict{}, fmt.Errorf("not verifiable on a read-only cluster: %s opens a connection, which has no dry run", a)
	default:
		v.Admitted = op != ""
		review, reqErr = b.resourceRequest(ctx, cfg, id, a)
		var nv *notVerifiable
		if errors.As(reqErr, &nv) {
			return backend.Verdict{}, reqErr
		}
	}
	if reqErr != nil {
		msg := reqErr.Error()
		if live.WebhookUnreachable(reqErr) {
			return backend.Verdict{}, fmt.Errorf("kubeconfig: %s: an admission webhook could not be reached: %w", a, reqErr)
		}
		if strings.Contains(msg, "cannot impersonate") && a.Verb != "impersonate" {
			return backend.Verdict{}, fmt.Errorf("kubeconfig: the kubeconfig's user may not impersonate %s: %w", id.Username, reqErr)
		}
	}
	v = live.Verdict(v, reqErr, b.policies, grantLayer(id))
	if v.Layer == backend.LayerAuthorization {
		if err := b.accessPolicyError(ctx, id, a); err != nil {
			return backend.Verdict{}, err
		}
	}
	if v.Layer == backend.LayerAdmission && review != nil {
		raw, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: review})
		if err != nil {
			return backend.Verdict{}, err
		}
		if all, ok := live.Replay(ctx, b.admin, raw, b.policies); ok {
			v.Admission = live.MergeResults(v.Admission, all)
			v.Message = live.Messages(v.Admission)
		}
	}
	return v, nil
}

// grantLayer: impersonated requests are authorized by RBAC only (or system:masters).
func grantLayer(id *identity.Identity) live.Grant {
	return func() (string, string) {
		for _, g := range id.Groups {
			if g == "system:masters" {
				return "system:masters", "system:masters"
			}
		}
		return "rbac", "RBAC"
	}
}

// accessReview asks a SelfSubjectAccessReview as the impersonated identity.
func (b *Backend) accessReview(ctx context.Context, cfg *rest.Config, id *identity.Identity, a backend.Action) (backend.Verdict, error) {
	v := backend.Verdict{Identity: id}
	allowed, reason, err := live.AccessReview(ctx, cfg, id, a)
	switch {
	case err != nil && strings.Contains(err.Error(), "cannot impersonate"):
		return backend.Verdict{}, fmt.Errorf("kubeconfig: the kubeconfig's user may not impersonate %s: %w", id.Username, err)
	case err != nil:
		v = live.Verdict(v, err, b.policies, grantLayer(id))
	case !allowed:
		v.Layer, v.Reason, v.Message = backend.LayerAuthorization, reason, reason
	default:
		v.Allowed = true
		v.GrantLayer, v.Grant = grantLayer(id)()
	}
	if v.Layer == backend.LayerAuthorization {
		if err := b.accessPolicyError(ctx, id, a); err != nil {
			return backend.Verdict{}, err
		}
	}
	return v, nil
}

// notVerifiable is a step the backend cannot check without changing the cluster.
type notVerifiable struct{ what string }

func (e *notVerifiable) Error() string {
	return "not verifiable on a read-only cluster: " + e.what + " does not exist"
}

// resourceRequest sends the action as the identity: reads are reads, writes are dry runs of
// existing objects (creates: in an existing namespace). It returns the admission request the
// API server sent to the webhooks, rebuilt, for writes.
func (b *Backend) resourceRequest(ctx context.Context, cfg *rest.Config, id *identity.Identity, a backend.Action) (*admissionv1.AdmissionRequest, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ri := live.Resources(dyn, a)
	dry := []string{metav1.DryRunAll}
	switch a.Verb {
	case "get", "list", "watch":
		return nil, live.Read(ctx, ri, a)
	case "create":
		if a.Resource.Namespaced && a.Namespace != "" {
			_, err := b.admin.CoreV1().Namespaces().Get(ctx, a.Namespace, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil, &notVerifiable{what: "Namespace/" + a.Namespace}
			}
			if err != nil {
				return nil, fmt.Errorf("read namespace %s: %w", a.Namespace, err)
			}
		}
		obj, err := a.Manifest()
		if err != nil {
			return nil, err
		}
		review := b.admissionRequest(id, a, obj, nil, &metav1.CreateOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "CreateOptions"}, DryRun: dry})
		_, err = ri.Create(ctx, obj, metav1.CreateOptions{DryRun: dry})
		if apierrors.IsAlreadyExists(err) {
			return review, nil // past admission
		}
		return review, err
	}
	stored, err := live.Resources(b.adminDyn, a).Get(ctx, a.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || err == nil && stored == nil {
		what := a.Resource.GVK.Kind + "/" + a.Name
		if a.Resource.Namespaced && a.Namespace != "" {
			what += " in namespace " + a.Namespace
		}
		return nil, &notVerifiable{what: what}
	}
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", a.Resource, a.Name, err)
	}
	var review *admissionv1.AdmissionRequest
	switch a.Verb {
	case "update":
		obj := stored.DeepCopy()
		if a.Object != nil {
			if obj, err = a.Manifest(); err != nil {
				return nil, err
			}
			obj.SetResourceVersion(stored.GetResourceVersion())
		}
		review = b.admissionRequest(id, a, obj, stored, &metav1.UpdateOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "UpdateOptions"}, DryRun: dry})
		_, err = ri.Update(ctx, obj, metav1.UpdateOptions{DryRun: dry})
	case "patch":
		patch := []byte(`{"metadata":{"annotations":{"guardrail.dev/probe":"patch"}}}`)
		obj := stored.DeepCopy()
		ann := obj.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann["guardrail.dev/probe"] = "patch"
		obj.SetAnnotations(ann)
		review = b.admissionRequest(id, a, obj, stored, &metav1.PatchOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PatchOptions"}, DryRun: dry})
		_, err = ri.Patch(ctx, a.Name, types.MergePatchType, patch, metav1.PatchOptions{DryRun: dry})
	case "delete":
		review = b.admissionRequest(id, a, nil, stored, &metav1.DeleteOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "DeleteOptions"}, DryRun: dry})
		err = ri.Delete(ctx, a.Name, metav1.DeleteOptions{DryRun: dry})
	}
	return review, err
}

// admissionRequest rebuilds the dry-run request the API server sends the validating webhooks.
func (b *Backend) admissionRequest(id *identity.Identity, a backend.Action, obj, old *unstructured.Unstructured, options runtime.Object) *admissionv1.AdmissionRequest {
	gvk, gvr := a.Resource.GVK, a.Resource.GVR
	kind := metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind}
	res := metav1.GroupVersionResource{Group: gvr.Group, Version: gvr.Version, Resource: gvr.Resource}
	op := a.Operation()
	name, ns := a.Name, ""
	if a.Resource.Namespaced {
		ns = a.Namespace
	}
	if obj != nil && name == "" {
		name = obj.GetName()
	}
	if gvk.Group == "" && gvk.Kind == "Namespace" && a.Resource.Subresource == "" {
		ns = name // on every operation, CREATE included (k8s.io/apiserver/pkg/endpoints/handlers/create.go)
	}
	uid := make([]byte, 16)
	_, _ = rand.Read(uid)
	dryRun := true
	extra := map[string]authenticationv1.ExtraValue{}
	for k, v := range id.Extra {
		extra[k] = v
	}
	req := &admissionv1.AdmissionRequest{
		UID: types.UID(hex.EncodeToString(uid)), Kind: kind, Resource: res, SubResource: a.Resource.Subresource,
		RequestKind: &kind, RequestResource: &res, RequestSubResource: a.Resource.Subresource,
		Name: name, Namespace: ns, Operation: admissionv1.Operation(op),
		UserInfo: authenticationv1.UserInfo{Username: id.Username, Groups: append([]string(nil), id.Groups...), Extra: extra},
		DryRun:   &dryRun,
	}
	if obj != nil {
		req.Object.Raw, _ = json.Marshal(obj.Object)
	}
	if old != nil {
		req.OldObject.Raw, _ = json.Marshal(old.Object)
	}
	if options != nil {
		req.Options.Raw, _ = json.Marshal(options)
	}
	return req
}

var _ backend.Backend = (*Backend)(nil)
