// Package offline is the in-process backend: EKS authentication and access policies modelled
// (packages identity and authz), Kubernetes RBAC with the upstream authorizer and bootstrap
// policy, and the real Kyverno engine for admission (package kyverno), over an environment's
// rendered overlay. No cluster, no network; a verdict takes well under a millisecond.
package offline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac/bootstrappolicy"
	"sigs.k8s.io/yaml"

	"guardrail.dev/guardrail/compiler/kyverno"
	"guardrail.dev/guardrail/compiler/model"
	"guardrail.dev/guardrail/compiler/resources"
	"guardrail.dev/guardrail/simulator/authz"
	"guardrail.dev/guardrail/simulator/backend"
	"guardrail.dev/guardrail/simulator/identity"
	"guardrail.dev/guardrail/simulator/podidentity"
)

// Options tune the offline backend.
type Options struct {
	// Kyverno configures the admission engine (resource filters and excluded groups of a
	// default install unless set).
	Kyverno kyverno.Config
}

// Backend is the offline backend of one environment. It is safe for concurrent use.
type Backend struct {
	env        *model.Env
	authz      *authz.Authorizer
	engine     *kyverno.Engine
	rbac       kyverno.RBAC
	nsLabels   map[string]map[string]string
	sas        map[string]bool
	objects    map[string][]byte // "group/Kind/ns/name" → JSON of rendered objects
	policyKind map[string]string // policy name → kind
}

// New builds the backend from an environment and its rendered overlay (rendered.yaml).
func New(env *model.Env, rendered []byte, opts Options) (*Backend, error) {
	b := &Backend{env: env, nsLabels: map[string]map[string]string{}, sas: map[string]bool{}, objects: map[string][]byte{}, policyKind: map[string]string{}}
	var objs authz.RBACObjects
	var policies []*kyverno.Policy
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(rendered)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("failed to read rendered manifests: %w", err)
		}
		var u unstructured.Unstructured
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			return nil, fmt.Errorf("failed to read rendered manifests: %w", err)
		}
		if len(u.Object) == 0 {
			continue
		}
		js, err := json.Marshal(u.Object)
		if err != nil {
			return nil, err
		}
		gvk := u.GroupVersionKind()
		b.objects[objectKey(gvk.Group, gvk.Kind, u.GetNamespace(), u.GetName())] = js
		switch gvk.GroupKind().String() {
		case "Namespace":
			b.nsLabels[u.GetName()] = u.GetLabels()
			b.sas[u.GetName()+"/default"] = true
		case "ServiceAccount":
			b.sas[u.GetNamespace()+"/"+u.GetName()] = true
		case "Role.rbac.authorization.k8s.io":
			var o rbacv1.Role
			err = json.Unmarshal(js, &o)
			objs.Roles = append(objs.Roles, o)
		case "ClusterRole.rbac.authorization.k8s.io":
			var o rbacv1.ClusterRole
			err = json.Unmarshal(js, &o)
			objs.ClusterRoles = append(objs.ClusterRoles, o)
		case "RoleBinding.rbac.authorization.k8s.io":
			var o rbacv1.RoleBinding
			err = json.Unmarshal(js, &o)
			objs.RoleBindings = append(objs.RoleBindings, o)
		case "ClusterRoleBinding.rbac.authorization.k8s.io":
			var o rbacv1.ClusterRoleBinding
			err = json.Unmarshal(js, &o)
			objs.ClusterRoleBindings = append(objs.ClusterRoleBindings, o)
		case "ClusterPolicy.kyverno.io", "ValidatingPolicy.policies.kyverno.io":
			var p *kyverno.Policy
			p, err = kyverno.ParsePolicy(doc)
			if p != nil {
				policies = append(policies, p)
				b.policyKind[p.Name] = p.Kind
			}
		}
		if err != nil {
			return nil, fmt.Errorf("rendered %s %s: %w", gvk.Kind, u.GetName(), err)
		}
	}
	// Namespaces every cluster has.
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if _, ok := b.nsLabels[ns]; !ok {
			b.nsLabels[ns] = map[string]string{}
		}
		b.sas[ns+"/default"] = true
	}
	var err error
	if b.authz, err = authz.New(objs, Associations(env)); err != nil {
		return nil, fmt.Errorf("failed to build the authorizer: %w", err)
	}
	if b.engine, err = kyverno.NewEngine(policies, opts.Kyverno); err != nil {
		return nil, fmt.Errorf("failed to build the Kyverno engine: %w", err)
	}
	// Kyverno computes roles from every binding the cluster holds: the overlay's and the
	// bootstrap policy's (system:masters → cluster-admin among them).
	b.rbac.RoleBindings = objs.RoleBindings
	b.rbac.ClusterRoleBindings = append(append(objs.ClusterRoleBindings, bootstrappolicy.ClusterRoleBindings()...), bootstrappolicy.ControllerRoleBindings()...)
	nsRBs := bootstrappolicy.NamespaceRoleBindings()
	names := make([]string, 0, len(nsRBs))
	for ns := range nsRBs {
		names = append(names, ns)
	}
	sort.Strings(names)
	for _, ns := range names {
		b.rbac.RoleBindings = append(b.rbac.RoleBindings, nsRBs[ns]...)
	}
	return b, nil
}

// Associations are the access policy associations of the environment's access entries.
func Associations(env *model.Env) []authz.Association {
	var assoc []authz.Association
	for _, ps := range env.PermissionSets {
		if ps.Via != model.ViaAccessEntry {
			continue
		}
		for _, ap := range ps.AccessEntry.AccessPolicies {
			assoc = append(assoc, authz.Association{PrincipalARN: ps.RoleARN, Policy: ap.Name, ClusterScope: ap.Cluster, Namespaces: ap.Namespaces})
		}
	}
	return assoc
}

func objectKey(group, kind, ns, name string) string {
	return group + "/" + kind + "/" + ns + "/" + name
}

// Name implements backend.Backend.
func (b *Backend) Name() string { return "offline" }

// Env implements backend.Backend.
func (b *Backend) Env() *model.Env { return b.env }

// Policies implements backend.Backend.
func (b *Backend) Policies() []string {
	out := make([]string, 0, len(b.policyKind))
	for n := range b.policyKind {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Close implements backend.Backend.
func (b *Backend) Close() error { return nil }

// Authenticate implements backend.Backend.
func (b *Backend) Authenticate(_ context.Context, p identity.Principal) (*identity.Identity, error) {
	return identity.Authenticate(b.env, p, b.sas)
}

// Rules is what `kubectl auth can-i --list` shows the principal in namespace: its RBAC rules, as a
// SelfSubjectRulesReview returns them (system:masters through the bootstrap cluster-admin binding),
// and the EKS access policies of its access entry whose scope covers the namespace, which such a
// review on EKS does not list.
func (b *Backend) Rules(ctx context.Context, p identity.Principal, namespace string) (id *identity.Identity, rules []rbacv1.PolicyRule, accessPolicies []string, err error) {
	id, err = b.Authenticate(ctx, p)
	if err != nil {
		return nil, nil, nil, err
	}
	rules, err = b.authz.RulesFor(ctx, &user.DefaultInfo{Name: id.Username, UID: id.UID, Groups: id.Groups, Extra: id.Extra}, namespace)
	if id.AccessEntryARN != "" {
		accessPolicies = b.authz.AccessPoliciesFor(id.AccessEntryARN, namespace)
	}
	return id, rules, accessPolicies, err
}

// PodCredentials implements backend.Backend.
func (b *Backend) PodCredentials(_ context.Context, ns, sa string) (podidentity.Credentials, bool, error) {
	c, ok := podidentity.For(b.env, ns, sa, "pod", "00000000-0000-0000-0000-000000000000")
	return c, ok, nil
}

// Do implements backend.Backend: authentication, authorization, then admission.
func (b *Backend) Do(ctx context.Context, p identity.Principal, a backend.Action) (backend.Verdict, error) {
	id, err := b.Authenticate(ctx, p)
	if v, denied := backend.AuthenticationVerdict(err); denied {
		return v, nil
	}
	if err != nil {
		return backend.Verdict{}, err
	}
	v := backend.Verdict{Identity: id}
	d := b.authz.Authorize(ctx, authz.Request{
		User:            &user.DefaultInfo{Name: id.Username, UID: id.UID, Groups: id.Groups, Extra: id.Extra},
		PrincipalARN:    id.AccessEntryARN,
		Verb:            a.Verb,
		APIGroup:        a.Resource.GVR.Group,
		Resource:        a.Resource.GVR.Resource,
		Subresource:     a.Resource.Subresource,
		Name:            a.Name,
		Namespace:       a.Namespace,
		NonResourcePath: a.NonResourcePath,
	})
	if !d.Allowed {
		v.Layer, v.Reason, v.Message = backend.LayerAuthorization, d.Reason, d.Reason
		if len(d.Checked) > 0 {
			v.Reason += " (checked: " + strings.Join(d.Checked, "; ") + ")"
		}
		return v, nil
	}
	v.Grant, v.GrantLayer = d.Reason, d.Layer
	op := a.Operation()
	if op == "" || a.AuthorizationOnly {
		v.Allowed = true
		return v, nil
	}
	req, err := b.admissionRequest(a, op, id)
	if err != nil {
		return backend.Verdict{}, err
	}
	kv, err := b.engine.Evaluate(ctx, req, b.rbac)
	if err != nil {
		return backend.Verdict{}, fmt.Errorf("kyverno: %w", err)
	}
	v.Admitted = true
	v.Roles, v.ClusterRoles, v.Excluded = kv.Roles, kv.ClusterRoles, kv.Excluded
	for _, r := range kv.Results {
		v.Admission = append(v.Admission, backend.AdmissionResult{
			Policy: r.PolicyKind + "/" + r.Policy, Name: r.Policy, Rule: r.Rule, Status: r.Status,
			Message: r.Message, Enforce: r.Enforce, Denies: r.Denies,
		})
	}
	v.Allowed = kv.Allowed
	if !kv.Allowed {
		v.Layer = backend.LayerAdmission
		var msgs []string
		for _, r := range v.DeniedBy() {
			msgs = append(msgs, r.Message)
		}
		v.Message = strings.Join(msgs, "; ")
		v.Reason = "admission webhook denied the request: " + v.Message
	}
	return v, nil
}

// admissionRequest builds what the API server sends Kyverno: CREATE carries the object,
// UPDATE the object and the stored one, DELETE only the stored one.
func (b *Backend) admissionRequest(a backend.Action, op string, id *identity.Identity) (kyverno.Request, error) {
	gvk := a.Resource.GVK
	stored := b.objects[objectKey(gvk.Group, gvk.Kind, a.Namespace, a.Name)]
	if stored == nil && (a.Resource.GVK.Kind == "Namespace") {
		stored = b.objects[objectKey("", "Namespace", "", a.Name)]
	}
	obj := a.Object
	if obj == nil {
		obj = stored
	}
	if obj == nil {
		m := map[string]any{"apiVersion": gvk.GroupVersion().String(), "kind": gvk.Kind, "metadata": map[string]any{"name": a.Name}}
		if a.Namespace != "" && a.Resource.Namespaced {
			m["metadata"].(map[string]any)["namespace"] = a.Namespace
		}
		js, err := json.Marshal(m)
		if err != nil {
			return kyverno.Request{}, err
		}
		obj = js
	}
	old := stored
	if old == nil {
		old = obj
	}
	if k, ok := resources.ConnectOptionsKind(a.Resource.GVR.GroupResource(), a.Resource.Subresource); ok && op == "CONNECT" {
		gvk = k // the API server admits kubectl exec as a PodExecOptions
	}
	req := kyverno.Request{
		Operation: op, Kind: gvk, Resource: a.Resource.GVR, SubResource: a.Resource.Subresource,
		Name: a.Name, Namespace: a.Namespace,
		UserInfo:        authenticationv1.UserInfo{Username: id.Username, UID: id.UID, Groups: id.Groups, Extra: extra(id.Extra)},
		NamespaceLabels: b.nsLabels[a.Namespace],
	}
	if a.Resource.GVK.Group == "" && a.Resource.GVK.Kind == "Namespace" {
		// A request about a Namespace carries the namespace's own name as its namespace, on
		// every operation: UPDATE and DELETE take it from the URL (/api/v1/namespaces/NAME), and
		// the create handler sets it from the object's name (k8s.io/apiserver/pkg/endpoints/
		// handlers/create.go).
		req.Namespace = a.Name
		if op == "CREATE" {
			req.NamespaceLabels = nil
		}
	}
	switch op {
	case "CREATE":
		req.Object = obj
	case "UPDATE":
		req.Object, req.OldObject = obj, old
	case "DELETE":
		req.OldObject = old
	case "CONNECT":
		req.Object = []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":%q}`, gvk.Kind))
	}
	return req, nil
}

func extra(in map[string][]string) map[string]authenticationv1.ExtraValue {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]authenticationv1.ExtraValue, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

var _ backend.Backend = (*Backend)(nil)
