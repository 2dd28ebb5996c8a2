package kyverno

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	policiesv1beta1 "github.com/kyverno/api/api/policies.kyverno.io/v1beta1"
	kyvernov1 "github.com/kyverno/kyverno/api/kyverno/v1"
	kyvernov2 "github.com/kyverno/kyverno/api/kyverno/v2"
	celengine "github.com/kyverno/kyverno/pkg/cel/engine"
	"github.com/kyverno/kyverno/pkg/cel/libs"
	"github.com/kyverno/kyverno/pkg/cel/matching"
	vpolengine "github.com/kyverno/kyverno/pkg/cel/policies/vpol/engine"
	"github.com/kyverno/kyverno/pkg/engine"
	engineapi "github.com/kyverno/kyverno/pkg/engine/api"
	"github.com/kyverno/kyverno/pkg/engine/factories"
	"github.com/kyverno/kyverno/pkg/engine/jmespath"
	"github.com/kyverno/kyverno/pkg/userinfo"
	datautils "github.com/kyverno/kyverno/pkg/utils/data"
	webhookutils "github.com/kyverno/kyverno/pkg/webhooks/utils"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Request is one admission request as the API server would send it to Kyverno's webhooks.
type Request struct {
	Operation   string                      // CREATE, UPDATE, DELETE or CONNECT
	Kind        schema.GroupVersionKind     // the kind of Object/OldObject (for a subresource: the subresource's kind, e.g. autoscaling/v1 Scale)
	Resource    schema.GroupVersionResource // e.g. {"", "v1", "configmaps"}
	SubResource string                      // e.g. "exec", "scale", "status"
	// ParentKind is the kind of the resource a subresource request is for (v1 Pod for pods/exec), which
	// is what Kyverno matches and filters on. The zero value means: Kind when SubResource is empty,
	// otherwise looked up from Resource in a table of the built-in resources that have subresources.
	ParentKind schema.GroupVersionKind
	Name       string
	Namespace  string // "" for cluster-scoped resources
	// Object and OldObject are JSON. CREATE carries only Object, UPDATE both, DELETE only OldObject.
	// CONNECT carries the connect options (e.g. PodExecOptions) as Object, or nothing. An object that
	// has no metadata.namespace gets Namespace filled in, as the API server does before admission.
	Object, OldObject []byte
	UserInfo          authenticationv1.UserInfo
	// NamespaceLabels are the labels of the namespace object of Namespace. The label
	// kubernetes.io/metadata.name=<Namespace>, which the API server sets on every namespace, is always
	// added.
	NamespaceLabels map[string]string
	DryRun          bool
}

// RBAC is the cluster's RBAC state, from which Kyverno computes request.roles and request.clusterRoles
// (pkg/userinfo.GetRoleRef: only bindings matter, and Roles/ClusterRoles are accepted for the callers'
// convenience but not read).
type RBAC struct {
	Roles               []rbacv1.Role
	ClusterRoles        []rbacv1.ClusterRole
	RoleBindings        []rbacv1.RoleBinding
	ClusterRoleBindings []rbacv1.ClusterRoleBinding
}

// Verdict is what Kyverno's admission webhooks would answer, with the evidence.
type Verdict struct {
	Allowed bool
	// Excluded is non-empty when Kyverno's configuration kept the request from being evaluated: the
	// webhook namespaceSelector, excludeGroups/excludeUsernames/excludeRoles/excludeClusterRoles,
	// resourceFilters, or Kyverno's own report kinds. It lists every reason that applies, "; "-joined.
	Excluded string
	// Roles and ClusterRoles are what Kyverno computed for the user from the RBAC bindings
	// ("<namespace>:<role>" for roles).
	Roles, ClusterRoles []string
	// Results has one entry per rule (ClusterPolicy) or policy (ValidatingPolicy) that matched the
	// request, in the order the policies were given to NewEngine, then rule order. A policy that did not
	// match has no entry.
	Results []Result
	// Warnings are the admission warnings: failures of ValidatingPolicies with the Warn action.
	Warnings []string
}

// Result is one rule's outcome.
type Result struct {
	PolicyKind string // KindClusterPolicy or KindValidatingPolicy
	Policy     string
	// Rule is the rule name. CEL policies are ruleless: for a ValidatingPolicy it is "", except for the
	// names Kyverno's vpol engine gives its error results ("evaluation", "match", "exception").
	Rule    string
	Status  string // pass | fail | warn | error | skip
	Message string
	// Enforce is true when a fail of this rule denies the request: failureAction Enforce (per rule, or
	// the deprecated spec.validationFailureAction, overrides included) or validationActions Deny.
	Enforce bool
	// Denies is true when this result is (one of) the reason(s) the request is denied.
	Denies bool
	// ValidationIndex is, for a failing or erroring ValidatingPolicy, the index in spec.validations of
	// the validation that failed; -1 otherwise.
	ValidationIndex int
}

// Engine evaluates admission requests against a fixed set of policies the way Kyverno's admission
// controller does. Build it once with NewEngine; Evaluate is safe for concurrent use.
type Engine struct {
	policies []*Policy
	cfg      *kyvernoConfig
	jp       jmespath.Interface
	engine   engineapi.Engine
	matcher  matching.Matcher
	libsCtx  libs.Context
	// index maps a compiled ValidatingPolicy back to its position in policies.
	vpolIndex map[policiesv1beta1.ValidatingPolicyLike]int
	// noPrefilter evaluates every policy (tests only).
	noPrefilter bool
}

// NewEngine builds an Engine. Nothing is compiled or parsed after this.
func NewEngine(policies []*Policy, cfg Config) (*Engine, error) {
	quiet()
	kc, err := cfg.build()
	if err != nil {
		return nil, err
	}
	isCluster := false
	jp := jmespath.New(kc.cfg)
	e := &Engine{
		policies: slices.Clone(policies),
		cfg:      kc,
		jp:       jp,
		// No API client, registry client, image-verification cache or exception selector: context
		// entries that call the API server, image verification and PolicyExceptions are not available.
		engine:    engine.NewEngine(kc.cfg, jp, nil, nil, nil, factories.DefaultContextLoaderFactory(nil), nil, &isCluster),
		matcher:   matching.NewMatcher(),
		libsCtx:   libs.NewFakeContextProvider(),
		vpolIndex: map[policiesv1beta1.ValidatingPolicyLike]int{},
	}
	seen := map[string]bool{}
	for i, p := range policies {
		if p == nil {
			return nil, fmt.Errorf("policy %d is nil", i)
		}
		key := p.Kind + "/" + p.Name
		if seen[key] {
			return nil, fmt.Errorf("%s: duplicate policy", key)
		}
		seen[key] = true
		switch p.Kind {
		case KindClusterPolicy:
		case KindValidatingPolicy:
			compiled, err := p.compile()
			if err != nil {
				return nil, err
			}
			for _, c := range compiled {
				e.vpolIndex[c.policy.Policy] = i
			}
		default:
			return nil, fmt.Errorf("%s: unsupported policy kind", key)
		}
	}
	return e, nil
}

// Evaluate runs one admission request through Kyverno. An error means the request itself is malformed
// (bad JSON, shape not matching the operation, unknown subresource parent); what Kyverno reports as a
// rule error is a Result with status "error".
func (e *Engine) Evaluate(ctx context.Context, req Request, rbac RBAC) (Verdict, error) {
	var v Verdict
	op := admissionv1.Operation(strings.ToUpper(req.Operation))
	object, oldObject, newMeta, oldMeta, err := normalizeObjects(op, req)
	if err != nil {
		return v, err
	}
	gvk, err := topLevelKind(req)
	if err != nil {
		return v, err
	}
	nsLabels := namespaceLabels(req)

	// handlers.withRoles
	v.Roles, v.ClusterRoles, err = userinfo.GetRoleRef(roleBindings(rbac.RoleBindings), clusterRoleBindings(rbac.ClusterRoleBindings), req.UserInfo, req.Namespace)
	if err != nil {
		return v, err
	}
	if reasons := e.exclusions(req, gvk, nsLabels, v.Roles, v.ClusterRoles); len(reasons) > 0 {
		v.Allowed = true
		v.Excluded = strings.Join(reasons, "; ")
		return v, nil
	}

	f := facts{
		operation:    kyvernov1.AdmissionOperation(op),
		gvk:          gvk,
		subresource:  req.SubResource,
		userInfo:     req.UserInfo,
		roles:        v.Roles,
		clusterRoles: v.ClusterRoles,
		namespace:    req.Namespace,
	}
	// engine.matches matches the new object, or the old one when there is no new one (DELETE), as
	// pkg/utils/admission.ConvertResource made it: kind from the request, namespace from the request
	// unless it is a Namespace.
	matched := newMeta
	if object == nil {
		matched = oldMeta
	}
	switch {
	case req.Kind.Kind == "Namespace":
		f.resourceNamespace = matched.Metadata.Name
	case req.Namespace != "":
		f.resourceNamespace = req.Namespace
	default:
		f.resourceNamespace = matched.Metadata.Namespace
	}
	requestInfo := kyvernov2.RequestInfo{Roles: v.Roles, ClusterRoles: v.ClusterRoles, AdmissionUserInfo: req.UserInfo, DryRun: req.DryRun}
	f.ignoreUserInfo = datautils.DeepEqual(requestInfo, kyvernov2.RequestInfo{})

	var cpols []int
	var vpols []vpolengine.Policy
	for i, p := range e.policies {
		switch p.Kind {
		case KindClusterPolicy:
			if e.noPrefilter || p.cpolMayMatch(&f) {
				cpols = append(cpols, i)
			}
		case KindValidatingPolicy:
			for j := range p.compiled {
				if e.noPrefilter || p.compiled[j].mayApply(&f) {
					vpols = append(vpols, p.compiled[j].policy)
				}
			}
		}
	}
	if len(cpols) == 0 && len(vpols) == 0 {
		v.Allowed = true
		return v, nil
	}

	admission := admissionv1.AdmissionRequest{
		UID:         types.UID("guardrail-offline-request"),
		Kind:        metav1.GroupVersionKind(req.Kind),
		Resource:    metav1.GroupVersionResource(req.Resource),
		SubResource: req.SubResource,
		Name:        req.Name,
		Namespace:   req.Namespace,
		Operation:   op,
		UserInfo:    req.UserInfo,
		Object:      runtime.RawExtension{Raw: object},
		OldObject:   runtime.RawExtension{Raw: oldObject},
		DryRun:      &req.DryRun,
	}
	kind := metav1.GroupVersionKind(req.Kind)
	resource := metav1.GroupVersionResource(req.Resource)
	admission.RequestKind = &kind
	admission.RequestResource = &resource
	admission.RequestSubResource = req.SubResource

	perPolicy := make([][]Result, len(e.policies))
	denied := false
	if len(cpols) > 0 {
		d, err := e.evaluateClusterPolicies(ctx, admission, requestInfo, gvk, nsLabels, cpols, perPolicy)
		if err != nil {
			return v, err
		}
		denied = denied || d
	}
	if len(vpols) > 0 {
		d, warnings, err := e.evaluateValidatingPolicies(ctx, admission, nsLabels, vpols, perPolicy)
		if err != nil {
			return v, err
		}
		denied = denied || d
		v.Warnings = warnings
	}
	for _, rs := range perPolicy {
		v.Results = append(v.Results, rs...)
	}
	v.Allowed = !denied
	return v, nil
}

// evaluateClusterPolicies is pkg/webhooks/resource/validation.HandleValidationEnforce and
// HandleValidationAudit in one pass: every candidate policy is validated whole, and the request is
// denied when a failing rule resolves to Enforce, or an erroring Enforce rule belongs to a policy with
// failurePolicy Fail.
func (e *Engine) evaluateClusterPolicies(ctx context.Context, admission admissionv1.AdmissionRequest, info kyvernov2.RequestInfo, gvk schema.GroupVersionKind, nsLabels map[string]string, cpols []int, out [][]Result) (bool, error) {
	pc, err := engine.NewPolicyContextFromAdmissionRequest(e.jp, admission, info, gvk, e.cfg.cfg)
	if err != nil {
		// the webhook answers "failed to create policy context" and denies
		return false, fmt.Errorf("kyverno: failed to create policy context: %w", err)
	}
	if admission.Kind.Kind != "Namespace" && admission.Namespace != "" {
		pc = pc.WithNamespaceLabels(nsLabels)
	}
	denied := false
	for _, i := range cpols {
		p := e.policies[i]
		er := e.engine.Validate(ctx, pc.WithPolicy(p.cpol))
		if len(er.PolicyResponse.Rules) == 0 {
			continue
		}
		failFast := p.cpol.GetSpec().GetFailurePolicy(ctx) == kyvernov1.Fail
		for _, rr := range er.PolicyResponse.Rules {
			r := Result{
				PolicyKind:      KindClusterPolicy,
				Policy:          p.Name,
				Rule:            rr.Name(),
				Status:          string(rr.Status()),
				Message:         rr.Message(),
				Enforce:         ruleEnforced(er, rr.Name()),
				ValidationIndex: -1,
			}
			switch rr.Status() {
			case engineapi.RuleStatusFail:
				r.Denies = r.Enforce
			case engineapi.RuleStatusError:
				r.Denies = r.Enforce && failFast
			}
			denied = denied || r.Denies
			out[i] = append(out[i], r)
		}
	}
	return denied, nil
}

// ruleEnforced asks Kyverno's own resolution (EngineResponse.HasEnforcedFailure: rule failureAction
// and failureActionOverrides, then the spec-level ones) whether a failure of the named rule enforces.
func ruleEnforced(er engineapi.EngineResponse, rule string) bool {
	probe := er
	probe.PolicyResponse.Rules = []engineapi.RuleResponse{*engineapi.RuleFail(rule, engineapi.Validation, "", nil)}
	return probe.HasEnforcedFailure()
}

// evaluateValidatingPolicies is pkg/webhooks/resource/vpol: the vpol engine over the candidate
// policies, Deny failures and errors deny, Warn failures and errors warn.
func (e *Engine) evaluateValidatingPolicies(ctx context.Context, admission admissionv1.AdmissionRequest, nsLabels map[string]string, vpols []vpolengine.Policy, out [][]Result) (bool, []string, error) {
	var namespace *corev1.Namespace
	if admission.Namespace != "" {
		namespace = &corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: admission.Namespace, Labels: nsLabels},
		}
	}
	provider := vpolengine.ProviderFunc(func(context.Context) ([]vpolengine.Policy, error) { return vpols, nil })
	eng := vpolengine.NewEngine(provider, func(string) *corev1.Namespace { return namespace }, e.matcher)
	resp, err := eng.Handle(ctx, celengine.RequestFromAdmission(e.libsCtx, admission), vpolengine.ClusteredPolicy())
	if err != nil {
		return false, nil, fmt.Errorf("kyverno: %w", err)
	}
	denied := false
	var warnings []string
	for _, pr := range resp.Policies {
		i, ok := e.vpolIndex[pr.Policy]
		if !ok {
			return false, nil, errors.New("kyverno: vpol engine returned an unknown policy")
		}
		deny := pr.Actions.Has(admissionregistrationv1.Deny)
		warn := pr.Actions.Has(admissionregistrationv1.Warn)
		for _, rr := range pr.Rules {
			if rr.Status() == engineapi.RuleStatusSkip && rr.SkipReason() == engineapi.SkipReasonMatchConditions {
				// The webhook carries the policy's matchConditions: the API server would not have
				// called Kyverno for this policy at all.
				continue
			}
			r := Result{
				PolicyKind:      KindValidatingPolicy,
				Policy:          pr.Policy.GetName(),
				Rule:            rr.Name(),
				Status:          string(rr.Status()),
				Message:         rr.Message(),
				Enforce:         deny,
				ValidationIndex: -1,
			}
			failed := rr.Status() == engineapi.RuleStatusFail || rr.Status() == engineapi.RuleStatusError
			if failed {
				if idx, ok := rr.Properties()["cel.validationIndex"]; ok {
					fmt.Sscan(idx, &r.ValidationIndex) //nolint:errcheck // stays -1 when absent
				}
				r.Denies = deny
				if warn {
					verb := "failed"
					if rr.Status() == engineapi.RuleStatusError {
						verb = "error"
					}
					warnings = append(warnings, fmt.Sprintf("Policy %s %s: %s", pr.Policy.GetName(), verb, rr.Message()))
				}
			}
			denied = denied || r.Denies
			out[i] = append(out[i], r)
		}
	}
	return denied, warnings, nil
}

// exclusions lists why Kyverno would not evaluate the request, in the order the checks happen live.
func (e *Engine) exclusions(req Request, gvk schema.GroupVersionKind, nsLabels map[string]string, roles, clusterRoles []string) []string {
	var reasons []string
	// API server: the webhooks' namespaceSelector applies to namespaced objects and to Namespace objects.
	if sel := e.cfg.nsSelector; sel != nil {
		nsName, nsl := req.Namespace, nsLabels
		if req.Namespace == "" && gvk.Group == "" && gvk.Kind == "Namespace" {
			nsName = req.Name
			nsl = map[string]string{"kubernetes.io/metadata.name": req.Name}
		}
		if nsName != "" && !sel.Matches(labels.Set(nsl)) {
			reasons = append(reasons, fmt.Sprintf("webhook namespaceSelector: namespace %s is not selected by Kyverno's webhooks (%s)", nsName, sel.String()))
		}
	}
	// pkg/webhooks/handlers.withFilter
	if e.cfg.cfg.IsExcluded(req.UserInfo.Username, req.UserInfo.Groups, roles, clusterRoles) {
		var lists []string
		for _, x := range e.cfg.exclusions {
			if x.cfg.IsExcluded(req.UserInfo.Username, req.UserInfo.Groups, roles, clusterRoles) {
				lists = append(lists, x.name)
			}
		}
		reasons = append(reasons, fmt.Sprintf("user %q is excluded by Kyverno's configuration (%s)", req.UserInfo.Username, strings.Join(lists, ", ")))
	}
	if entry, ok := e.cfg.toFilter(gvk, req.SubResource, req.Namespace, req.Name); ok {
		reasons = append(reasons, fmt.Sprintf("resourceFilters: %s matches %s %s", entry, describeKind(gvk, req.SubResource), describeName(req.Namespace, req.Name)))
	}
	if webhookutils.ExcludeKyvernoResources(req.Kind.Kind) {
		reasons = append(reasons, fmt.Sprintf("Kyverno never validates its own %s objects", req.Kind.Kind))
	}
	return reasons
}

func describeKind(gvk schema.GroupVersionKind, sub string) string {
	s := gvk.Kind
	if sub != "" {
		s += "/" + sub
	}
	return s
}

func describeName(ns, name string) string {
	switch {
	case ns == "":
		return name
	case name == "":
		return "in namespace " + ns
	}
	return ns + "/" + name
}

func namespaceLabels(req Request) map[string]string {
	if req.Namespace == "" {
		return map[string]string{}
	}
	out := make(map[string]string, len(req.NamespaceLabels)+1)
	for k, v := range req.NamespaceLabels {
		out[k] = v
	}
	out["kubernetes.io/metadata.name"] = req.Namespace
	return out
}

// objectMeta is the part of an object the engine wrapper looks at.
type objectMeta struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// normalizeObjects checks the object shapes against the operation and fills in a missing
// metadata.namespace from the request, as the API server does for namespaced resources.
func normalizeObjects(op admissionv1.Operation, req Request) (object, oldObject []byte, newMeta, oldMeta objectMeta, err error) {
	object, oldObject = nonEmpty(req.Object), nonEmpty(req.OldObject)
	switch op {
	case admissionv1.Create:
		if object == nil || oldObject != nil {
			return nil, nil, newMeta, oldMeta, errors.New("a CREATE request carries Object and no OldObject")
		}
	case admissionv1.Update:
		if object == nil || oldObject == nil {
			return nil, nil, newMeta, oldMeta, errors.New("an UPDATE request carries both Object and OldObject")
		}
	case admissionv1.Delete:
		if object != nil || oldObject == nil {
			return nil, nil, newMeta, oldMeta, errors.New("a DELETE request carries OldObject and no Object")
		}
	case admissionv1.Connect:
		if oldObject != nil {
			return nil, nil, newMeta, oldMeta, errors.New("a CONNECT request carries no OldObject")
		}
	default:
		return nil, nil, newMeta, oldMeta, fmt.Errorf("unknown operation %q (want CREATE, UPDATE, DELETE or CONNECT)", req.Operation)
	}
	fill := op != admissionv1.Connect
	if object, newMeta, err = normalizeObject(object, req.Namespace, fill); err != nil {
		return nil, nil, newMeta, oldMeta, fmt.Errorf("object: %w", err)
	}
	if oldObject, oldMeta, err = normalizeObject(oldObject, req.Namespace, fill); err != nil {
		return nil, nil, newMeta, oldMeta, fmt.Errorf("oldObject: %w", err)
	}
	return object, oldObject, newMeta, oldMeta, nil
}

func nonEmpty(b []byte) []byte {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return b
}

func normalizeObject(raw []byte, namespace string, fill bool) ([]byte, objectMeta, error) {
	var meta objectMeta
	if raw == nil {
		return nil, meta, nil
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, meta, err
	}
	if !fill || namespace == "" || meta.Metadata.Namespace == namespace {
		return raw, meta, nil
	}
	if meta.Metadata.Namespace != "" {
		return nil, meta, fmt.Errorf("metadata.namespace %q does not match the request namespace %q", meta.Metadata.Namespace, namespace)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, meta, err
	}
	md, _ := obj["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		obj["metadata"] = md
	}
	md["namespace"] = namespace
	meta.Metadata.Namespace = namespace
	out, err := json.Marshal(obj)
	return out, meta, err
}

// roleBindings and clusterRoleBindings are the listers pkg/userinfo needs: List is all it calls.
type roleBindings []rbacv1.RoleBinding

func (l roleBindings) List(labels.Selector) ([]*rbacv1.RoleBinding, error) {
	out := make([]*rbacv1.RoleBinding, len(l))
	for i := range l {
		out[i] = &l[i]
	}
	return out, nil
}

type clusterRoleBindings []rbacv1.ClusterRoleBinding

func (l clusterRoleBindings) List(labels.Selector) ([]*rbacv1.ClusterRoleBinding, error) {
	out := make([]*rbacv1.ClusterRoleBinding, len(l))
	for i := range l {
		out[i] = &l[i]
	}
	return out, nil
}
