package authz

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	rbacv1helpers "k8s.io/kubernetes/pkg/apis/rbac/v1"
	rbacregistryvalidation "k8s.io/kubernetes/pkg/registry/rbac/validation"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac"
)

// Layers of a Decision, in the order they are consulted.
const (
	// LayerSystemMasters: the user is in the system:masters group, which the kube-apiserver's
	// privileged-group authorizer allows before RBAC is consulted (admission still runs).
	LayerSystemMasters = "system:masters"
	// LayerRBAC: a Kubernetes RoleBinding or ClusterRoleBinding granted the request.
	LayerRBAC = "rbac"
	// LayerAccessPolicy: an EKS access policy associated with the user's access entry granted it.
	LayerAccessPolicy = "access-policy"
)

// RBACObjects are the cluster's own RBAC objects, typically decoded from the rendered manifests. The
// Kubernetes bootstrap policy is added by New and need not be included.
type RBACObjects struct {
	Roles               []rbacv1.Role
	ClusterRoles        []rbacv1.ClusterRole
	RoleBindings        []rbacv1.RoleBinding
	ClusterRoleBindings []rbacv1.ClusterRoleBinding
}

// Association is one AssociateAccessPolicy call: the access entry (identified by its principal ARN), the
// access policy and its scope.
type Association struct {
	// PrincipalARN is the access entry's principalArn, exactly as registered (IAM role ARNs keep their path).
	PrincipalARN string
	// Policy is a policy name such as AmazonEKSViewPolicy, or its ARN
	// arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy. See AccessPolicies.
	Policy string
	// ClusterScope is accessScope.type "cluster". When false the scope is "namespace" and Namespaces
	// lists the namespaces: exact names, or prefixes followed by a trailing "*" (app-*).
	ClusterScope bool
	Namespaces   []string
}

// Request is one authorization check, in the terms of the kube-apiserver's authorizer attributes.
type Request struct {
	// User is the authenticated user: name, groups (include system:authenticated, as the API server's
	// authenticator adds it) and extra.
	User user.Info
	// PrincipalARN is the access entry that authenticated the user, "" if the user was mapped through the
	// aws-auth ConfigMap, is not an IAM principal, or is impersonated (--as/--as-group disables access
	// policies). Access policies are only consulted when it is set.
	PrincipalARN string

	// Verb, APIGroup, Resource, Subresource, Name and Namespace describe a resource request, as the API
	// server derives them from the URL: Verb is an API verb (get, list, watch, create, update, patch,
	// delete, deletecollection, or a special verb such as impersonate, bind, escalate). Two URL facts
	// are applied for you: a create of a resource (no subresource) has no name at authorization time,
	// so Name is ignored; and a request on namespaces/NAME is inside namespace NAME, so an empty
	// Namespace becomes Name.
	Verb, APIGroup, Resource, Subresource, Name, Namespace string

	// NonResourcePath is set for a non-resource request such as /healthz or /metrics; Verb is then the
	// lower-case HTTP method (get, post, put, patch, delete, head, options).
	NonResourcePath string
}

// Decision is the outcome of Authorize with its explanation.
type Decision struct {
	Allowed bool
	// Layer is LayerSystemMasters, LayerRBAC or LayerAccessPolicy for an allowed request, "" when denied.
	Layer string
	// Reason explains the decision. When allowed: the grant, for example
	// `RoleBinding app-payments/payments-edit (Group "payments") → ClusterRole edit: rule {...}`.
	// When denied: the message the API server returns with its 403, for example
	// `configmaps is forbidden: User "x" cannot create resource "configmaps" in API group "" in the namespace "b"`.
	Reason string
	// Binding and Role name the RBAC grant: "RoleBinding NAMESPACE/NAME" or "ClusterRoleBinding NAME",
	// and "ClusterRole NAME" or "Role NAMESPACE/NAME".
	Binding, Role string
	// Policy and Scope name the access-policy grant: "AmazonEKSViewPolicy", and "cluster" or
	// "namespace: app-*, dev".
	Policy, Scope string
	// Rule is the rule that allowed the request (RBAC or access policy), nil otherwise.
	Rule *rbacv1.PolicyRule
	// Checked lists, for a denied request, what was consulted and why each did not allow it.
	Checked []string
}

// Authorizer decides requests the way an EKS cluster does: system:masters first, then Kubernetes RBAC,
// then the EKS access policies of the user's access entry. It is immutable and safe for concurrent use.
type Authorizer struct {
	masters      authorizer.Authorizer
	index        *index
	resolver     *rbacregistryvalidation.DefaultRuleResolver
	associations map[string][]association // by principal ARN, sorted by policy name
	ruleStrings  sync.Map                 // *rbacv1.PolicyRule → its CompactString; rules never change after New
}

type association struct {
	policy       *accessPolicy
	clusterScope bool
	namespaces   []string
	scope        string
}

// New builds an authorizer over the cluster's RBAC objects plus the Kubernetes bootstrap policy of the
// kube-apiserver this module is built against, and the cluster's EKS access policy associations.
//
// The objects are validated with the API server's own validation (after its defaulting); all problems
// are returned at once. The bootstrap policy is then reconciled over them exactly as the API server
// does at start-up (a user object named like a default one keeps its rules and gains the missing
// defaults, unless annotated rbac.authorization.kubernetes.io/autoupdate: "false"), and every ClusterRole
// with an aggregationRule is filled in as kube-controller-manager does. An association for a
// principal and policy that was already associated replaces the earlier scope, as AssociateAccessPolicy
// does.
func New(objs RBACObjects, associations []Association) (*Authorizer, error) {
	s := newStore()
	errs := s.load(objs)
	assocs, assocErrs := indexAssociations(associations)
	errs = append(errs, assocErrs...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	if err := s.reconcileBootstrapPolicy(); err != nil {
		return nil, err
	}
	origins, err := s.aggregateClusterRoles()
	if err != nil {
		return nil, err
	}
	idx := s.index(origins)
	return &Authorizer{
		masters:      authorizerfactory.NewPrivilegedGroups(user.SystemPrivilegedGroup),
		index:        idx,
		resolver:     rbacregistryvalidation.NewDefaultRuleResolver(idx, idx, idx, idx),
		associations: assocs,
	}, nil
}

func indexAssociations(associations []Association) (map[string][]association, []error) {
	var errs []error
	byKey := map[[2]string]association{}
	for i, in := range associations {
		name := policyName(in.Policy)
		where := fmt.Sprintf("access policy association %d (%s, %s)", i, in.PrincipalARN, in.Policy)
		p, ok := accessPolicies[name]
		switch {
		case in.PrincipalARN == "":
			errs = append(errs, fmt.Errorf("%s: principal ARN is empty", where))
		case in.Policy == "":
			errs = append(errs, fmt.Errorf("%s: policy is empty", where))
		case !ok:
			errs = append(errs, fmt.Errorf("%s: the rules of access policy %q are not modelled (known: %s)", where, name, strings.Join(AccessPolicies(), ", ")))
		}
		a := association{policy: p, clusterScope: in.ClusterScope}
		if in.ClusterScope {
			if len(in.Namespaces) > 0 {
				errs = append(errs, fmt.Errorf("%s: a cluster scope takes no namespaces, got %q", where, in.Namespaces))
			}
			a.scope = "cluster"
		} else {
			if len(in.Namespaces) == 0 {
				errs = append(errs, fmt.Errorf("%s: a namespace scope needs at least one namespace", where))
			}
			for _, ns := range in.Namespaces {
				if ns == "" || strings.Contains(strings.TrimSuffix(ns, "*"), "*") {
					errs = append(errs, fmt.Errorf("%s: namespace %q: only an exact name or a trailing * is supported", where, ns))
				}
			}
			a.namespaces = append([]string(nil), in.Namespaces...)
			a.scope = "namespace: " + strings.Join(in.Namespaces, ", ")
		}
		byKey[[2]string{in.PrincipalARN, name}] = a
	}
	if len(errs) > 0 {
		return nil, errs
	}
	out := map[string][]association{}
	for k, a := range byKey {
		out[k[0]] = append(out[k[0]], a)
	}
	for _, as := range out {
		sort.Slice(as, func(i, j int) bool { return as[i].policy.name < as[j].policy.name })
	}
	return out, nil
}

// inScope reports whether the association's scope covers the request; if not, why.
func (a *association) inScope(attrs *authorizer.AttributesRecord) (bool, string) {
	if a.clusterScope {
		return true, ""
	}
	if !attrs.ResourceRequest {
		return false, fmt.Sprintf("non-resource URL %q is outside a namespace scope", attrs.Path)
	}
	if attrs.Namespace == "" {
		return false, "a cluster-wide request is outside a namespace scope"
	}
	for _, pattern := range a.namespaces {
		if prefix, wildcard := strings.CutSuffix(pattern, "*"); wildcard {
			if strings.HasPrefix(attrs.Namespace, prefix) {
				return true, ""
			}
		} else if attrs.Namespace == pattern {
			return true, ""
		}
	}
	return false, fmt.Sprintf("namespace %q is outside the scope", attrs.Namespace)
}

// attributes converts a Request to the authorizer attributes the API server would build for it.
func (r *Request) attributes() *authorizer.AttributesRecord {
	if r.NonResourcePath != "" {
		return &authorizer.AttributesRecord{User: r.User, Verb: r.Verb, Path: r.NonResourcePath}
	}
	attrs := &authorizer.AttributesRecord{
		User:            r.User,
		Verb:            r.Verb,
		Namespace:       r.Namespace,
		APIGroup:        r.APIGroup,
		Resource:        r.Resource,
		Subresource:     r.Subresource,
		Name:            r.Name,
		ResourceRequest: true,
	}
	if attrs.Verb == "create" && attrs.Subresource == "" {
		// POST goes to the collection URL: the API server authorizes a create without a name.
		attrs.Name = ""
	}
	if attrs.APIGroup == "" && attrs.Resource == "namespaces" && attrs.Name != "" && attrs.Namespace == "" {
		// RequestInfo sets the namespace of /api/v1/namespaces/NAME[/subresource] to NAME.
		attrs.Namespace = attrs.Name
	}
	return attrs
}

// Authorize decides the request.
func (a *Authorizer) Authorize(ctx context.Context, r Request) Decision {
	if r.User == nil {
		return Decision{Reason: "no user on request", Checked: []string{"no user on request"}}
	}
	attrs := r.attributes()

	if d, _, _ := a.masters.Authorize(ctx, attrs); d == authorizer.DecisionAllow {
		return Decision{
			Allowed: true,
			Layer:   LayerSystemMasters,
			Reason:  fmt.Sprintf("User %q is in group %q: the API server allows it before RBAC (admission still applies)", attrs.User.GetName(), user.SystemPrivilegedGroup),
		}
	}

	// RBAC: the loop of rbac.RBACAuthorizer.Authorize, keeping the allowing source and rule.
	v := allowVisitor{attrs: attrs}
	a.resolver.VisitRulesFor(ctx, attrs.User, attrs.Namespace, v.visit)
	if v.allowed {
		binding, role, subject := parseSource(v.source)
		return Decision{
			Allowed: true,
			Layer:   LayerRBAC,
			Reason:  fmt.Sprintf("%s (%s) → %s: rule %s%s", binding, subject, role, a.ruleString(v.rule), a.aggregatedNote(v.rule)),
			Binding: binding,
			Role:    role,
			Rule:    v.rule.DeepCopy(),
		}
	}

	// EKS access policies: they allow or pass, never deny.
	ap := a.accessPolicies(attrs, r.PrincipalARN)
	if ap.Allowed {
		return ap
	}
	checked := ap.Checked

	// Denied: the API server's 403 message, with the RBAC resolution errors as its reason.
	reason := ""
	if len(v.errs) > 0 {
		reason = fmt.Sprintf("RBAC: %v", utilerrors.NewAggregate(v.errs))
	}
	return Decision{
		Reason:  responsewriters.ForbiddenStatusError(attrs, reason).ErrStatus.Message,
		Checked: append(a.rbacChecked(ctx, attrs), checked...),
	}
}

// AuthorizeAccessPolicies decides a request by the EKS access policies of the access entry
// alone, as the EKS authorizer placed after RBAC does: allowed, or no opinion (Allowed false,
// Checked saying why).
func (a *Authorizer) AuthorizeAccessPolicies(_ context.Context, r Request) Decision {
	if r.User == nil {
		return Decision{Reason: "no user on request", Checked: []string{"no user on request"}}
	}
	return a.accessPolicies(r.attributes(), r.PrincipalARN)
}

func (a *Authorizer) accessPolicies(attrs *authorizer.AttributesRecord, principalARN string) Decision {
	r := struct{ PrincipalARN string }{principalARN}
	var checked []string
	if r.PrincipalARN != "" {
		for i := range a.associations[r.PrincipalARN] {
			as := &a.associations[r.PrincipalARN][i]
			ok, why := as.inScope(attrs)
			if !ok {
				checked = append(checked, fmt.Sprintf("access policy %s (%s): %s", as.policy.name, as.scope, why))
				continue
			}
			for j := range as.policy.rules {
				if rbac.RuleAllows(attrs, &as.policy.rules[j]) {
					return Decision{
						Allowed: true,
						Layer:   LayerAccessPolicy,
						Reason:  fmt.Sprintf("access entry %s → access policy %s (%s): rule %s", r.PrincipalARN, as.policy.name, as.scope, a.ruleString(&as.policy.rules[j])),
						Policy:  as.policy.name,
						Scope:   as.scope,
						Rule:    as.policy.rules[j].DeepCopy(),
					}
				}
			}
			checked = append(checked, fmt.Sprintf("access policy %s (%s): no rule matches", as.policy.name, as.scope))
		}
		if len(a.associations[r.PrincipalARN]) == 0 {
			checked = append(checked, fmt.Sprintf("access policies: access entry %s has none associated", r.PrincipalARN))
		}
	} else {
		checked = append(checked, "access policies: not consulted, the user did not authenticate through an access entry")
	}

	return Decision{Checked: checked}
}

// RulesFor returns the RBAC rules that apply to the user in the namespace ("" for cluster-wide rules
// only), as a SelfSubjectRulesReview or `kubectl auth can-i --list` shows them: access policies and
// system:masters are not included, as on EKS. A non-nil error lists bindings whose role is missing; the
// rules are still valid.
func (a *Authorizer) RulesFor(ctx context.Context, u user.Info, namespace string) ([]rbacv1.PolicyRule, error) {
	rules, err := a.resolver.RulesFor(ctx, u, namespace)
	for i := range rules {
		rules[i] = *rules[i].DeepCopy() // the resolver's copies share slices with the stored roles
	}
	return rules, err
}

// AccessPoliciesFor names the access policies associated with the access entry of principalARN whose
// scope covers namespace ("" for cluster-wide requests: cluster-scoped associations only), each with
// its scope, sorted: what a SelfSubjectRulesReview on EKS leaves out.
func (a *Authorizer) AccessPoliciesFor(principalARN, namespace string) []string {
	var out []string
	attrs := &authorizer.AttributesRecord{ResourceRequest: true, Namespace: namespace}
	for i := range a.associations[principalARN] {
		as := &a.associations[principalARN][i]
		if ok, _ := as.inScope(attrs); ok {
			out = append(out, fmt.Sprintf("%s (%s)", as.policy.name, as.scope))
		}
	}
	return out
}

type allowVisitor struct {
	attrs   authorizer.Attributes
	allowed bool
	source  string
	rule    *rbacv1.PolicyRule
	errs    []error
}

// visit mirrors authorizingVisitor in k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac.
func (v *allowVisitor) visit(source fmt.Stringer, rule *rbacv1.PolicyRule, err error) bool {
	if rule != nil && rbac.RuleAllows(v.attrs, rule) {
		v.allowed = true
		v.source = source.String()
		v.rule = rule
		return false
	}
	if err != nil {
		v.errs = append(v.errs, err)
	}
	return true
}

// rbacChecked describes, for a denied request, the bindings that apply to the user. The resolver
// looks up the role of each applicable binding just before visiting its rules; a counter in the
// context, bumped by those lookups, tells when the visited rules move to the next binding, so each
// binding is described once without formatting every rule's source.
func (a *Authorizer) rbacChecked(ctx context.Context, attrs *authorizer.AttributesRecord) []string {
	var out []string
	lookups, seen := 0, -1
	ctx = context.WithValue(ctx, roleLookupsKey{}, &lookups)
	a.resolver.VisitRulesFor(ctx, attrs.User, attrs.Namespace, func(source fmt.Stringer, rule *rbacv1.PolicyRule, err error) bool {
		if err != nil {
			out = append(out, "RBAC: "+err.Error())
		}
		if source != nil && lookups != seen {
			seen = lookups
			binding, role, subject := parseSource(source.String())
			out = append(out, fmt.Sprintf("RBAC %s (%s) → %s: no rule matches", binding, subject, role))
		}
		return true
	})
	if len(out) == 0 {
		where := "no ClusterRoleBinding"
		if attrs.Namespace != "" {
			where += fmt.Sprintf(" or RoleBinding in namespace %q", attrs.Namespace)
		}
		out = append(out, fmt.Sprintf("RBAC: %s applies to User %q with groups %q", where, attrs.User.GetName(), attrs.User.GetGroups()))
	}
	return out
}

// roleLookupsKey is the context key of the *int that index role lookups increment.
type roleLookupsKey struct{}

// ruleString formats a rule as upstream does in RBAC errors, {APIGroups:[""], Resources:["pods"], ...}.
func (a *Authorizer) ruleString(rule *rbacv1.PolicyRule) string {
	if s, ok := a.ruleStrings.Load(rule); ok {
		return s.(string)
	}
	s := rbacv1helpers.CompactString(*rule)
	a.ruleStrings.Store(rule, s)
	return s
}

func (a *Authorizer) aggregatedNote(rule *rbacv1.PolicyRule) string {
	if from, ok := a.index.aggregatedFrom[rule]; ok {
		return fmt.Sprintf(" (aggregated from ClusterRole %s)", from)
	}
	return ""
}

// parseSource turns the upstream rule resolver's description of a binding,
//
//	ClusterRoleBinding "NAME" of ClusterRole "ROLE" to User "alice"
//	RoleBinding "NAME/NAMESPACE" of Role "ROLE" to Group "devs"
//
// into "ClusterRoleBinding NAME" / "RoleBinding NAMESPACE/NAME", "ClusterRole ROLE" / "Role
// NAMESPACE/ROLE", and the subject (`User "alice"`). An unexpected format is returned whole as binding.
func parseSource(s string) (binding, role, subject string) {
	kind, rest, ok := strings.Cut(s, " ")
	name, rest, ok2 := cutQuoted(rest)
	rest, ok3 := strings.CutPrefix(rest, " of ")
	roleKind, rest, ok4 := strings.Cut(rest, " ")
	roleName, rest, ok5 := cutQuoted(rest)
	subject, ok6 := strings.CutPrefix(rest, " to ")
	if !ok || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return s, "", ""
	}
	if kind == "RoleBinding" {
		if i := strings.LastIndex(name, "/"); i >= 0 {
			ns := name[i+1:]
			name = ns + "/" + name[:i]
			if roleKind == "Role" {
				roleName = ns + "/" + roleName
			}
		}
	}
	return kind + " " + name, roleKind + " " + roleName, subject
}

// cutQuoted unquotes the Go-quoted string s starts with and returns the rest.
func cutQuoted(s string) (value, rest string, ok bool) {
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", s, false
	}
	value, err = strconv.Unquote(q)
	return value, s[len(q):], err == nil
}
