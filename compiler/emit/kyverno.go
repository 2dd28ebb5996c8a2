package emit

import (
	"fmt"
	"strconv"
	"strings"

	"guardrail.dev/guardrail/compiler/model"
	"guardrail.dev/guardrail/compiler/resources"
)

// Policy compiles one guardrail into a Kyverno policy of the given kind. A guardrail that
// matches clusterRoles always becomes a ClusterPolicy: CEL policies see no roles.
//
// Every value from the environment is escaped for where it lands: CEL string literals are
// quoted with Go's escapes (a subset of CEL's), ClusterPolicy messages have their "{{"
// escaped so Kyverno does not read them as variables, and names that could act as wildcards
// are rejected by validation before they get here.
func Policy(env *model.Env, g *model.Guardrail, kind string) (object, error) {
	if len(g.ClusterRoles) > 0 || kind == ClusterPolicy {
		return clusterPolicy(env, g), nil
	}
	if kind != ValidatingPolicy {
		return nil, fmt.Errorf("unknown policy kind %q", kind)
	}
	return validatingPolicy(env, g), nil
}

func policyMeta(env *model.Env, g *model.Guardrail) object {
	m := meta(env, g.PolicyName, "")
	m["annotations"] = object{
		"guardrail.dev/guardrail":        g.Name,
		"policies.kyverno.io/title":      g.Name,
		"policies.kyverno.io/category":   "guardrail",
		"policies.kyverno.io/subject":    "User, Group",
		"policies.kyverno.io/minversion": "1.17.0",
	}
	return m
}

func validatingPolicy(env *model.Env, g *model.Guardrail) object {
	action := "Deny"
	if !g.Enforce {
		action = "Audit"
	}
	matched := []string{"*"}
	for _, op := range g.Operations {
		if op == "CONNECT" {
			matched = []string{"*", "*/*"}
		}
	}
	conditions := []object{
		// A cluster-scoped request has no request.namespace: reading it would be an error, which
		// the API server's matchConditions turn into a deny. A request about a Namespace object
		// carries its name there on every operation, CREATE included (the API server sets it:
		// k8s.io/apiserver/pkg/endpoints/handlers/create.go).
		{"name": "in-namespaces", "expression": "has(request.namespace) && request.namespace in " + celList(g.Namespaces)},
		{"name": "subjects", "expression": celSubjects(g)},
	}
	if len(g.Kinds) > 0 {
		// Match the resource, not the kind: a CONNECT (kubectl exec) carries PodExecOptions, and
		// a subresource request the subresource's kind, but their resource is the parent's.
		var alts []string
		for _, k := range g.Kinds {
			if r, err := resources.Lookup(k.String()); err == nil {
				alts = append(alts, fmt.Sprintf("(request.resource.group == %s && request.resource.resource == %s)", celString(r.GVR.Group), celString(r.GVR.Resource)))
			} else if k.Group == "" {
				alts = append(alts, "request.kind.kind == "+celString(k.Kind))
			} else {
				alts = append(alts, fmt.Sprintf("(request.kind.group == %s && request.kind.kind == %s)", celString(k.Group), celString(k.Kind)))
			}
		}
		conditions = append(conditions, object{"name": "kinds", "expression": strings.Join(alts, " || ")})
	}
	return object{
		"apiVersion": "policies.kyverno.io/v1",
		"kind":       "ValidatingPolicy",
		"metadata":   policyMeta(env, g),
		"spec": object{
			"validationActions": []string{action},
			"evaluation":        object{"background": object{"enabled": false}},
			"matchConstraints": object{
				"resourceRules": []object{{
					"apiGroups":   []string{"*"},
					"apiVersions": []string{"*"},
					"resources":   matched,
					"operations":  g.Operations,
				}},
			},
			"matchConditions": conditions,
			"validations":     []object{{"expression": "false", "message": g.Message}},
		},
	}
}

// celSubjects is the CEL condition that the requester is one the guardrail is about.
func celSubjects(g *model.Guardrail) string {
	var alts []string
	if len(g.Usernames) > 0 {
		alts = append(alts, "(has(request.userInfo.username) && request.userInfo.username in "+celList(g.Usernames)+")")
	}
	for _, p := range g.UsernamePatterns {
		alts = append(alts, fmt.Sprintf("(has(request.userInfo.username) && request.userInfo.username.startsWith(%s) && request.userInfo.username.endsWith(%s) && size(request.userInfo.username) > %d)",
			celString(p.Prefix), celString(p.Suffix), len(p.Prefix)+len(p.Suffix)))
	}
	if len(g.Groups) > 0 {
		alts = append(alts, fmt.Sprintf("(has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in %s))", celList(g.Groups)))
	}
	if len(alts) == 0 {
		return "true"
	}
	return strings.Join(alts, " || ")
}

// celString quotes s as a CEL string literal. Go's strconv.Quote emits only escapes CEL
// also defines (\a \b \f \n \r \t \v \\ \" \xHH \uHHHH \UHHHHHHHH).
func celString(s string) string { return strconv.Quote(s) }

func celList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = celString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func clusterPolicy(env *model.Env, g *model.Guardrail) object {
	action := "Enforce"
	if !g.Enforce {
		action = "Audit"
	}
	kinds := []string{"*"}
	connect := false
	for _, op := range g.Operations {
		connect = connect || op == "CONNECT"
	}
	if len(g.Kinds) > 0 {
		kinds = nil
		for _, k := range g.Kinds {
			kind := k.Kind
			if k.Group != "" {
				kind = k.Group + "/*/" + k.Kind
			}
			kinds = append(kinds, kind)
			// Kyverno matches a subresource request only by Kind/subresource.
			if r, err := resources.Lookup(k.String()); err == nil && connect {
				for _, sub := range resources.ConnectSubresources[r.GVR.GroupResource()] {
					kinds = append(kinds, kind+"/"+sub)
				}
			}
		}
	}
	var subjects []object
	for _, u := range g.Usernames {
		subjects = append(subjects, object{"kind": "User", "name": u})
	}
	for _, p := range g.UsernamePatterns {
		subjects = append(subjects, object{"kind": "User", "name": p.Prefix + "?*" + p.Suffix})
	}
	for _, grp := range g.Groups {
		subjects = append(subjects, object{"kind": "Group", "name": grp})
	}
	filter := object{"resources": object{"kinds": kinds, "namespaces": g.Namespaces}}
	if len(subjects) > 0 {
		filter["subjects"] = subjects
	}
	if len(g.ClusterRoles) > 0 {
		filter["clusterRoles"] = g.ClusterRoles
	}
	return object{
		"apiVersion": "kyverno.io/v1",
		"kind":       "ClusterPolicy",
		"metadata":   policyMeta(env, g),
		"spec": object{
			"background": false,
			"rules": []object{{
				"name":  "deny",
				"match": object{"any": []object{filter}},
				"validate": object{
					"failureAction": action,
					"message":       escapeKyvernoVariables(g.Message),
					"deny": object{"conditions": object{"any": []object{{
						"key":      "{{ request.operation || 'BACKGROUND' }}",
						"operator": "AnyIn",
						"value":    g.Operations,
					}}}},
				},
			}},
		},
	}
}

// escapeKyvernoVariables keeps user text literal in a ClusterPolicy message: Kyverno
// substitutes variables {{ ... }} and references $(...), and leaves \{{ ... }} and \$(...) as
// written, minus the backslash (pkg/engine/variables/regex).
func escapeKyvernoVariables(s string) string {
	return strings.NewReplacer("{{", `\{{`, "$(", `\$(`).Replace(s)
}
