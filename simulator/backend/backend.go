// Package backend is the one interface every simulation backend implements, so one step
// library (package steps) drives them all: offline (in process), local (a real API server on
// loopback), kind, and any kubeconfig.
package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"guardrail.dev/guardrail/compiler/model"
	"guardrail.dev/guardrail/compiler/resources"
	"guardrail.dev/guardrail/simulator/identity"
	"guardrail.dev/guardrail/simulator/podidentity"
)

// Layers that decide a request, in the order the API server runs them.
const (
	LayerAuthentication = "authentication"
	LayerAuthorization  = "authorization" // RBAC and EKS access policies (both only allow)
	LayerAdmission      = "admission"     // Kyverno
)

// Action is what a scenario does: a resource request or a non-resource URL.
type Action struct {
	Verb            string // kubectl verb: get, list, watch, create, update, patch, delete, deletecollection, impersonate, bind, escalate
	Resource        resources.Resource
	Name, Namespace string
	Object          []byte // JSON manifest for create/update; nil to let the backend make a minimal one
	NonResourcePath string // set for a non-resource request such as /metrics
	// AuthorizationOnly stops after authorization, as a SubjectAccessReview (kubectl auth
	// can-i) does: admission is not consulted.
	AuthorizationOnly bool
}

// String renders the action like an API server message does.
func (a Action) String() string {
	if a.NonResourcePath != "" {
		return fmt.Sprintf("%s %s", a.Verb, a.NonResourcePath)
	}
	var b strings.Builder
	b.WriteString(a.Verb + " " + a.Resource.String())
	if a.Name != "" {
		b.WriteString(" " + a.Name)
	}
	if a.Namespace != "" {
		b.WriteString(" in namespace " + a.Namespace)
	}
	return b.String()
}

// Manifest is the object a live backend sends for the action: the action's own manifest, or a
// minimal valid object of its kind (a Pod gets one container), named and namespaced as the
// action says.
func (a Action) Manifest() (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	if a.Object != nil {
		if err := json.Unmarshal(a.Object, &u.Object); err != nil {
			return nil, fmt.Errorf("the action's object: %w", err)
		}
	} else {
		gvk := a.Resource.GVK
		u.Object = map[string]any{"apiVersion": gvk.GroupVersion().String(), "kind": gvk.Kind, "metadata": map[string]any{}}
		if gvk.Group == "" && gvk.Kind == "Pod" {
			u.Object["spec"] = map[string]any{"containers": []any{map[string]any{"name": "main", "image": "busybox"}}}
		}
	}
	if a.Name != "" {
		u.SetName(a.Name)
	}
	if u.GetName() == "" {
		u.SetName("guardrail-probe")
	}
	if a.Resource.Namespaced && a.Namespace != "" {
		u.SetNamespace(a.Namespace)
	}
	return u, nil
}

// Operation is the admission operation of a verb, "" when the request is not admitted
// (reads, and authorization-only verbs).
func (a Action) Operation() string {
	if a.NonResourcePath != "" {
		return ""
	}
	switch a.Resource.Subresource {
	case "exec", "attach", "portforward", "proxy":
		return "CONNECT"
	}
	switch a.Verb {
	case "create":
		return "CREATE"
	case "update", "patch":
		return "UPDATE"
	case "delete", "deletecollection":
		return "DELETE"
	}
	return ""
}

// AdmissionResult is one admission rule or policy that matched the request.
type AdmissionResult struct {
	Policy  string // kind/name, for example ValidatingPolicy/guardrail-x
	Name    string // policy name
	Rule    string // rule name, "" for ValidatingPolicy
	Status  string // pass, fail, warn, error, skip
	Message string
	Enforce bool
	Denies  bool
}

// Verdict is the outcome of one action, with its explanation.
type Verdict struct {
	Allowed  bool
	Layer    string // the layer that denied; "" when allowed
	Identity *identity.Identity
	// Grant says what allowed the request at authorization: the binding, role and rule, the
	// access policy and its scope, or system:masters.
	Grant string
	// GrantLayer is system:masters, rbac or access-policy.
	GrantLayer string
	// Reason is the denial as the API server words it.
	Reason string
	// Admission holds the admission rules that matched; the denying ones have Denies set.
	Admission []AdmissionResult
	// Roles and ClusterRoles are what Kyverno computed for the requester.
	Roles, ClusterRoles []string
	// Excluded says why Kyverno skipped the request (resource filters, excluded groups).
	Excluded string
	// Message is the denial message the client sees.
	Message string
	// Admitted is true when the request went through admission (writes and connects).
	Admitted bool
}

// AuthenticationVerdict is the verdict of a principal that did not authenticate: ok is true
// when err is an *identity.AuthError, which every backend reports as a denial at
// authentication; any other error is not a verdict.
func AuthenticationVerdict(err error) (v Verdict, ok bool) {
	var authErr *identity.AuthError
	if !errors.As(err, &authErr) {
		return Verdict{}, false
	}
	return Verdict{Layer: LayerAuthentication, Reason: authErr.Reason, Message: "Unauthorized"}, true
}

// DeniedBy returns the admission results that denied.
func (v Verdict) DeniedBy() []AdmissionResult {
	var out []AdmissionResult
	for _, r := range v.Admission {
		if r.Denies {
			out = append(out, r)
		}
	}
	return out
}

// Explain renders the verdict's chain, one line each: identity, grant, admission.
func (v Verdict) Explain() []string {
	var lines []string
	if id := v.Identity; id != nil {
		lines = append(lines, fmt.Sprintf("identity: %s → %s → username %q, groups [%s]", id.Principal, id.Via, id.Username, strings.Join(id.Groups, ", ")))
		if id.Shadowed != "" {
			lines = append(lines, "note: "+id.Shadowed)
		}
	}
	switch {
	case v.Layer == LayerAuthentication:
		lines = append(lines, "authentication: denied: "+v.Reason)
		return lines
	case v.Layer == LayerAuthorization:
		lines = append(lines, "authorization: denied: "+v.Reason)
		return lines
	case v.Grant != "":
		lines = append(lines, "authorization: allowed by "+v.Grant)
	}
	if len(v.Roles)+len(v.ClusterRoles) > 0 {
		lines = append(lines, fmt.Sprintf("admission: Kyverno sees roles [%s], clusterRoles [%s]", strings.Join(v.Roles, ", "), strings.Join(v.ClusterRoles, ", ")))
	}
	if v.Excluded != "" {
		lines = append(lines, "admission: Kyverno skipped the request: "+v.Excluded)
	}
	for _, r := range v.Admission {
		what := r.Policy
		if r.Rule != "" {
			what += " rule " + r.Rule
		}
		effect := "reported"
		if r.Denies {
			effect = "denied"
		} else if r.Status == "pass" {
			effect = "passed"
		}
		line := fmt.Sprintf("admission: %s %s (%s)", what, effect, r.Status)
		if r.Message != "" {
			line += ": " + r.Message
		}
		lines = append(lines, line)
	}
	if v.Admitted && len(v.Admission) == 0 && v.Excluded == "" {
		lines = append(lines, "admission: no policy matched")
	}
	return lines
}

// Backend runs actions against one environment's cluster.
type Backend interface {
	// Name is offline, local, kind or kubeconfig.
	Name() string
	// Env is the environment the backend simulates.
	Env() *model.Env
	// Authenticate maps a principal to its Kubernetes identity; an *identity.AuthError is a
	// denial at authentication.
	Authenticate(ctx context.Context, p identity.Principal) (*identity.Identity, error)
	// Do runs an action as the principal and reports the verdict.
	Do(ctx context.Context, p identity.Principal, a Action) (Verdict, error)
	// PodCredentials reports what a pod running as the service account gets from EKS Pod
	// Identity; ok is false when it gets no AWS credentials.
	PodCredentials(ctx context.Context, namespace, serviceAccount string) (c podidentity.Credentials, ok bool, err error)
	// Policies are the names of the Kyverno policies the cluster holds, sorted.
	Policies() []string
	// Close releases what the backend started.
	Close() error
}
