package kyverno

// The prefilter decides, before any Kyverno code runs for a policy, that the policy cannot produce a
// result for a request. It must be conservative: it may keep a policy that then matches nothing, it
// must never drop one that Kyverno would have matched. Every test below is one Kyverno itself makes,
// done with Kyverno's own helper where there is one; everything it does not understand counts as
// "may match".

import (
	"slices"

	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/parser"
	kyvernov1 "github.com/kyverno/kyverno/api/kyverno/v1"
	"github.com/kyverno/kyverno/ext/wildcard"
	datautils "github.com/kyverno/kyverno/pkg/utils/data"
	matchutils "github.com/kyverno/kyverno/pkg/utils/match"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// facts are the request properties the prefilter looks at.
type facts struct {
	operation   kyvernov1.AdmissionOperation
	gvk         schema.GroupVersionKind // top-level kind, as Kyverno matches it
	subresource string
	// resourceNamespace is what pkg/engine/utils.checkNameSpace compares `namespaces` with: the namespace
	// of the matched object, or its name when the object is a Namespace.
	resourceNamespace string
	userInfo          authenticationv1.UserInfo
	roles             []string
	clusterRoles      []string
	ignoreUserInfo    bool // Kyverno drops user-info criteria when the whole RequestInfo is empty

	namespace string // request.namespace (admission request)
}

// cpolRule holds the match block of one ClusterPolicy rule.
type cpolRule struct {
	any, all []kyvernov1.ResourceFilter
	single   kyvernov1.ResourceFilter // the deprecated match.resources / match.subjects form
}

func newCpolRule(rule kyvernov1.Rule) cpolRule {
	m := rule.MatchResources
	return cpolRule{
		any:    m.Any,
		all:    m.All,
		single: kyvernov1.ResourceFilter{UserInfo: m.UserInfo, ResourceDescription: m.ResourceDescription},
	}
}

// mayMatch mirrors pkg/engine/utils.MatchesResourceDescription: any[] entries are ORed, all[] entries
// ANDed, otherwise the single legacy block applies. Exclude blocks are ignored (they only remove).
func (r *cpolRule) mayMatch(f *facts) bool {
	switch {
	case len(r.any) > 0:
		for i := range r.any {
			if filterMayMatch(&r.any[i], f) {
				return true
			}
		}
		return false
	case len(r.all) > 0:
		for i := range r.all {
			if !filterMayMatch(&r.all[i], f) {
				return false
			}
		}
		return true
	default:
		return filterMayMatch(&r.single, f)
	}
}

// filterMayMatch is the subset of pkg/engine/utils.doesResourceMatchConditionBlock that depends on the
// request alone: operations, kinds, namespaces, roles, clusterRoles and subjects, all ANDed.
func filterMayMatch(rf *kyvernov1.ResourceFilter, f *facts) bool {
	rd := &rf.ResourceDescription
	if len(rd.Operations) > 0 && !slices.Contains(rd.Operations, f.operation) {
		return false
	}
	if len(rd.Kinds) > 0 && !matchutils.CheckKind(rd.Kinds, f.gvk, f.subresource, true) {
		return false
	}
	if len(rd.Namespaces) > 0 {
		ok := false
		for _, ns := range rd.Namespaces {
			if wildcard.Match(ns, f.resourceNamespace) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if f.ignoreUserInfo {
		return true
	}
	ui := &rf.UserInfo
	if len(ui.Roles) > 0 && !datautils.SliceContains(ui.Roles, f.roles...) {
		return false
	}
	if len(ui.ClusterRoles) > 0 && !datautils.SliceContains(ui.ClusterRoles, f.clusterRoles...) {
		return false
	}
	if len(ui.Subjects) > 0 && !matchutils.CheckSubjects(ui.Subjects, f.userInfo) {
		return false
	}
	return true
}

func (p *Policy) cpolMayMatch(f *facts) bool {
	for i := range p.rules {
		if p.rules[i].mayMatch(f) {
			return true
		}
	}
	return false
}

// staticCond is one matchConditions conjunct of the form `request.<field> in [<string literals>]` or
// `request.<field> == <string literal>`, for the fields namespace, operation and userInfo.username.
// All matchConditions of a ValidatingPolicy must hold for it to apply (a false one wins over errors in
// the others), so one such conjunct that is false for the request proves the policy does not apply:
// the API server would not even call Kyverno for it (the conditions are copied into the webhook) and
// the engine would report a matchConditions skip.
type staticCond struct {
	field  string // "namespace", "operation", "username"
	values []string
}

func (c *staticCond) holds(f *facts) bool {
	var v string
	switch c.field {
	case "namespace":
		v = f.namespace
	case "operation":
		v = string(f.operation)
	case "username":
		v = f.userInfo.Username
	}
	return slices.Contains(c.values, v)
}

func staticConditions(conds []admissionregistrationv1.MatchCondition) []staticCond {
	var out []staticCond
	for _, mc := range conds {
		tree, errs := parser.Parse(common.NewTextSource(mc.Expression))
		if errs != nil && len(errs.GetErrors()) > 0 {
			continue
		}
		out = appendConjuncts(out, tree.Expr())
	}
	return out
}

func appendConjuncts(out []staticCond, e ast.Expr) []staticCond {
	if e.Kind() != ast.CallKind {
		return out
	}
	call := e.AsCall()
	args := call.Args()
	if len(args) != 2 {
		return out
	}
	switch call.FunctionName() {
	case operators.LogicalAnd:
		out = appendConjuncts(out, args[0])
		return appendConjuncts(out, args[1])
	case operators.In:
		field, ok := requestField(args[0])
		if !ok || args[1].Kind() != ast.ListKind {
			return out
		}
		var values []string
		for _, el := range args[1].AsList().Elements() {
			s, ok := stringLiteral(el)
			if !ok {
				return out
			}
			values = append(values, s)
		}
		return append(out, staticCond{field: field, values: values})
	case operators.Equals:
		for _, pair := range [][2]ast.Expr{{args[0], args[1]}, {args[1], args[0]}} {
			if field, ok := requestField(pair[0]); ok {
				if s, ok := stringLiteral(pair[1]); ok {
					return append(out, staticCond{field: field, values: []string{s}})
				}
			}
		}
	}
	return out
}

// requestField recognises request.namespace, request.operation and request.userInfo.username.
func requestField(e ast.Expr) (string, bool) {
	if e.Kind() != ast.SelectKind || e.AsSelect().IsTestOnly() {
		return "", false
	}
	sel := e.AsSelect()
	op := sel.Operand()
	switch sel.FieldName() {
	case "namespace", "operation":
		if op.Kind() == ast.IdentKind && op.AsIdent() == "request" {
			return sel.FieldName(), true
		}
	case "username":
		if op.Kind() == ast.SelectKind && !op.AsSelect().IsTestOnly() && op.AsSelect().FieldName() == "userInfo" {
			inner := op.AsSelect().Operand()
			if inner.Kind() == ast.IdentKind && inner.AsIdent() == "request" {
				return "username", true
			}
		}
	}
	return "", false
}

func stringLiteral(e ast.Expr) (string, bool) {
	if e.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().Value().(string)
	return s, ok
}

func (v *vpolEntry) mayApply(f *facts) bool {
	for i := range v.pre {
		if !v.pre[i].holds(f) {
			return false
		}
	}
	return true
}
