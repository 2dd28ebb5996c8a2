package kyverno

// The prefilter decides, before any Kyverno code runs for a policy, that the policy cannot produce a
// result for a request. It must be conservative: it may keep a policy that then matches nothing, it
// must never drop one that Kyverno would have matched. Every test below is one Kyverno itself makes,
// done with Kyverno's own helper where there is one; everything it does not understand counts as
// "may match".

import (
	"slices"
	"strings"

	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/parser"
	kyvernov1 "github.com/kyverno/kyverno/api/kyverno/v1"
	"github.com/kyverno/kyverno/ext/wildcard"
	datautils "github.com/kyverno/kyverno/pkg/utils/data"
	kubeutils "github.com/kyverno/kyverno/pkg/utils/kube"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
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

// pattern is a Kyverno wildcard pattern (ext/wildcard: '*' and '?'), with the common case of no
// wildcard at all reduced to a string comparison.
type pattern struct {
	text  string
	exact bool
}

func newPattern(text string) pattern {
	return pattern{text: text, exact: !strings.ContainsAny(text, "*?")}
}

func (p *pattern) match(s string) bool {
	if p.exact {
		return p.text == s
	}
	return wildcard.Match(p.text, s)
}

// kindSelector is one entry of `kinds`, parsed once with Kyverno's pkg/utils/kube.ParseKindSelector.
type kindSelector struct{ group, version, kind, subresource pattern }

var podGVK = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}

// matchKind is pkg/utils/match.CheckKind(kinds, gvk, subresource, true) for one selector.
func (k *kindSelector) matchKind(gvk schema.GroupVersionKind, subresource string) bool {
	if !k.group.match(gvk.Group) || !k.version.match(gvk.Version) || !k.kind.match(gvk.Kind) {
		return false
	}
	return k.subresource.match(subresource) || (gvk == podGVK && subresource == "ephemeralcontainers")
}

// subjectPattern is one rule subject as pkg/utils/match.CheckSubjects compares it: a username pattern
// (User, and ServiceAccount as system:serviceaccount:<ns>:<name>) or a group pattern.
type subjectPattern struct {
	group bool
	never bool // a kind CheckSubjects does not know: never matches
	pat   pattern
}

// preFilter is the request-only part of one ResourceFilter (a match any[]/all[] entry).
type preFilter struct {
	operations   []kyvernov1.AdmissionOperation
	namespaces   []pattern
	kinds        []kindSelector
	roles        []string
	clusterRoles []string
	subjects     []subjectPattern
}

func newPreFilter(rf kyvernov1.ResourceFilter) preFilter {
	rd := rf.ResourceDescription
	f := preFilter{operations: rd.Operations, roles: rf.Roles, clusterRoles: rf.ClusterRoles}
	for _, ns := range rd.Namespaces {
		f.namespaces = append(f.namespaces, newPattern(ns))
	}
	for _, k := range rd.Kinds {
		g, v, kind, sub := kubeutils.ParseKindSelector(k)
		f.kinds = append(f.kinds, kindSelector{newPattern(g), newPattern(v), newPattern(kind), newPattern(sub)})
	}
	for _, s := range rf.Subjects {
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			f.subjects = append(f.subjects, subjectPattern{pat: newPattern("system:serviceaccount:" + s.Namespace + ":" + s.Name)})
		case rbacv1.GroupKind:
			f.subjects = append(f.subjects, subjectPattern{group: true, pat: newPattern(s.Name)})
		case rbacv1.UserKind:
			f.subjects = append(f.subjects, subjectPattern{pat: newPattern(s.Name)})
		default:
			// keep the list non-empty so that the filter still requires a subject match
			f.subjects = append(f.subjects, subjectPattern{never: true})
		}
	}
	return f
}

// mayMatch is the subset of pkg/engine/utils.doesResourceMatchConditionBlock that depends on the
// request alone: operations, kinds, namespaces, roles, clusterRoles and subjects, all ANDed (cheapest
// first).
func (p *preFilter) mayMatch(f *facts) bool {
	if len(p.namespaces) > 0 {
		ok := false
		for i := range p.namespaces {
			if p.namespaces[i].match(f.resourceNamespace) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if !f.ignoreUserInfo {
		if len(p.subjects) > 0 && !p.subjectMatches(f) {
			return false
		}
		if len(p.roles) > 0 && !datautils.SliceContains(p.roles, f.roles...) {
			return false
		}
		if len(p.clusterRoles) > 0 && !datautils.SliceContains(p.clusterRoles, f.clusterRoles...) {
			return false
		}
	}
	if len(p.operations) > 0 && !slices.Contains(p.operations, f.operation) {
		return false
	}
	if len(p.kinds) > 0 {
		ok := false
		for i := range p.kinds {
			if p.kinds[i].matchKind(f.gvk, f.subresource) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (p *preFilter) subjectMatches(f *facts) bool {
	for i := range p.subjects {
		s := &p.subjects[i]
		if s.never {
			continue
		}
		if !s.group {
			if s.pat.match(f.userInfo.Username) {
				return true
			}
			continue
		}
		for _, g := range f.userInfo.Groups {
			if s.pat.match(g) {
				return true
			}
		}
	}
	return false
}

// cpolRule holds the match block of one ClusterPolicy rule.
type cpolRule struct {
	any, all []preFilter
	single   preFilter // the deprecated match.resources / match.subjects form
}

func newCpolRule(rule kyvernov1.Rule) cpolRule {
	m := rule.MatchResources
	r := cpolRule{single: newPreFilter(kyvernov1.ResourceFilter{UserInfo: m.UserInfo, ResourceDescription: m.ResourceDescription})}
	for _, rf := range m.Any {
		r.any = append(r.any, newPreFilter(rf))
	}
	for _, rf := range m.All {
		r.all = append(r.all, newPreFilter(rf))
	}
	return r
}

// mayMatch mirrors pkg/engine/utils.MatchesResourceDescription: any[] entries are ORed, all[] entries
// ANDed, otherwise the single legacy block applies. Exclude blocks are ignored (they only remove).
func (r *cpolRule) mayMatch(f *facts) bool {
	switch {
	case len(r.any) > 0:
		for i := range r.any {
			if r.any[i].mayMatch(f) {
				return true
			}
		}
		return false
	case len(r.all) > 0:
		for i := range r.all {
			if !r.all[i].mayMatch(f) {
				return false
			}
		}
		return true
	default:
		return r.single.mayMatch(f)
	}
}

func (p *Policy) cpolMayMatch(f *facts) bool {
	for i := range p.rules {
		if p.rules[i].mayMatch(f) {
			return true
		}
	}
	return false
}

// A static condition is a matchCondition, or a part of one, built from && || ! and leaves over the
// request fields namespace, operation, userInfo.username and userInfo.groups that can be decided
// without CEL:
//
//	request.<field> in [<string literals>]      request.<field> == / != <string literal>
//	has(request.<field>)                         '<literal>' in request.userInfo.groups
//
// It evaluates to true, false or unknown. In the CEL request these fields are absent, not "", when
// empty (the AdmissionRequest is converted with omitempty), so reading one then is an error: unknown.
// All matchConditions must hold for a ValidatingPolicy to apply, and a false one wins over errors in
// the others (vpol compiler Policy.match; the API server does the same with the webhook's copy), so
// one condition that is false for the request proves the policy does not apply: the API server would
// not call Kyverno for it, and the engine would report a matchConditions skip, which Evaluate drops.
type staticCond struct {
	op       condOp
	field    reqField // leaves other than opGroup
	values   []string
	children []staticCond
}

type condOp uint8

const (
	opUnknown condOp = iota
	opAnd
	opOr
	opNot
	opIn
	opEq
	opNe
	opHas
	opGroup // '<literal>' in request.userInfo.groups
)

type reqField uint8

const (
	fieldNamespace reqField = iota + 1
	fieldOperation
	fieldUsername
)

type tri int8

const (
	triUnknown tri = iota
	triFalse
	triTrue
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

func (c *staticCond) eval(f *facts) tri {
	switch c.op {
	case opUnknown:
		return triUnknown
	case opAnd:
		out := triTrue
		for i := range c.children {
			switch c.children[i].eval(f) {
			case triFalse:
				return triFalse
			case triUnknown:
				out = triUnknown
			}
		}
		return out
	case opOr:
		out := triFalse
		for i := range c.children {
			switch c.children[i].eval(f) {
			case triTrue:
				return triTrue
			case triUnknown:
				out = triUnknown
			}
		}
		return out
	case opNot:
		switch c.children[0].eval(f) {
		case triTrue:
			return triFalse
		case triFalse:
			return triTrue
		}
		return triUnknown
	case opGroup:
		if len(f.userInfo.Groups) == 0 {
			return triUnknown // no such key: groups
		}
		return triOf(slices.Contains(f.userInfo.Groups, c.values[0]))
	}
	v := f.requestField(c.field)
	if c.op == opHas {
		return triOf(v != "")
	}
	if v == "" {
		return triUnknown // no such key
	}
	switch c.op {
	case opIn, opEq:
		return triOf(slices.Contains(c.values, v))
	case opNe:
		return triOf(!slices.Contains(c.values, v))
	}
	return triUnknown
}

func (f *facts) requestField(field reqField) string {
	switch field {
	case fieldNamespace:
		return f.namespace
	case fieldOperation:
		return string(f.operation)
	case fieldUsername:
		return f.userInfo.Username
	}
	return ""
}

// staticConditions returns the matchConditions that are entirely static.
func staticConditions(conds []admissionregistrationv1.MatchCondition) []staticCond {
	var out []staticCond
	for _, mc := range conds {
		tree, errs := parser.Parse(common.NewTextSource(mc.Expression))
		if errs != nil && len(errs.GetErrors()) > 0 {
			continue
		}
		if c, ok := toStatic(tree.Expr()); ok {
			out = append(out, c)
		}
	}
	return out
}

// toStatic converts an expression to a static condition; ok is false when nothing in it is static. A
// sub-expression it does not understand becomes an "unknown" node inside && and ||.
func toStatic(e ast.Expr) (staticCond, bool) {
	unknown := staticCond{op: opUnknown}
	switch e.Kind() {
	case ast.SelectKind:
		if e.AsSelect().IsTestOnly() {
			if field, ok := requestField(e.AsSelect().Operand(), e.AsSelect().FieldName()); ok {
				return staticCond{op: opHas, field: field}, true
			}
		}
		return unknown, false
	case ast.CallKind:
	default:
		return unknown, false
	}
	call := e.AsCall()
	args := call.Args()
	switch call.FunctionName() {
	case operators.LogicalAnd, operators.LogicalOr:
		op := opAnd
		if call.FunctionName() == operators.LogicalOr {
			op = opOr
		}
		node := staticCond{op: op}
		known := false
		for _, a := range args {
			c, ok := toStatic(a)
			known = known || ok
			node.children = append(node.children, c)
		}
		return node, known
	case operators.LogicalNot:
		if len(args) == 1 {
			if c, ok := toStatic(args[0]); ok {
				return staticCond{op: opNot, children: []staticCond{c}}, true
			}
		}
		return unknown, false
	case operators.In:
		if len(args) != 2 {
			return unknown, false
		}
		if s, ok := stringLiteral(args[0]); ok && isGroups(args[1]) {
			return staticCond{op: opGroup, values: []string{s}}, true
		}
		field, ok := selectField(args[0])
		if !ok || args[1].Kind() != ast.ListKind {
			return unknown, false
		}
		var values []string
		for _, el := range args[1].AsList().Elements() {
			s, ok := stringLiteral(el)
			if !ok {
				return unknown, false
			}
			values = append(values, s)
		}
		return staticCond{op: opIn, field: field, values: values}, true
	case operators.Equals, operators.NotEquals:
		op := opEq
		if call.FunctionName() == operators.NotEquals {
			op = opNe
		}
		if len(args) != 2 {
			return unknown, false
		}
		for _, pair := range [][2]ast.Expr{{args[0], args[1]}, {args[1], args[0]}} {
			if field, ok := selectField(pair[0]); ok {
				if s, ok := stringLiteral(pair[1]); ok {
					return staticCond{op: op, field: field, values: []string{s}}, true
				}
			}
		}
	}
	return unknown, false
}

// selectField recognises request.namespace, request.operation and request.userInfo.username.
func selectField(e ast.Expr) (reqField, bool) {
	if e.Kind() != ast.SelectKind || e.AsSelect().IsTestOnly() {
		return 0, false
	}
	return requestField(e.AsSelect().Operand(), e.AsSelect().FieldName())
}

func requestField(operand ast.Expr, name string) (reqField, bool) {
	switch name {
	case "namespace":
		if isIdent(operand, "request") {
			return fieldNamespace, true
		}
	case "operation":
		if isIdent(operand, "request") {
			return fieldOperation, true
		}
	case "username":
		if operand.Kind() == ast.SelectKind && !operand.AsSelect().IsTestOnly() &&
			operand.AsSelect().FieldName() == "userInfo" && isIdent(operand.AsSelect().Operand(), "request") {
			return fieldUsername, true
		}
	}
	return 0, false
}

// isGroups recognises request.userInfo.groups.
func isGroups(e ast.Expr) bool {
	if e.Kind() != ast.SelectKind || e.AsSelect().IsTestOnly() || e.AsSelect().FieldName() != "groups" {
		return false
	}
	ui := e.AsSelect().Operand()
	return ui.Kind() == ast.SelectKind && !ui.AsSelect().IsTestOnly() && ui.AsSelect().FieldName() == "userInfo" &&
		isIdent(ui.AsSelect().Operand(), "request")
}

func isIdent(e ast.Expr, name string) bool {
	return e.Kind() == ast.IdentKind && e.AsIdent() == name
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
		if v.pre[i].eval(f) == triFalse {
			return false
		}
	}
	return true
}
