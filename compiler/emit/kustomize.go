package emit

import (
	"sort"

	"guardrail.dev/guardrail/compiler/model"
)

func namespaces(env *model.Env) []object {
	var out []object
	for _, ns := range env.Namespaces {
		m := meta(env, ns.Name, "")
		labels := m["labels"].(object)
		for k, v := range ns.Labels {
			labels[k] = v
		}
		if ns.Owner != "" {
			labels["guardrail.dev/team"] = ns.Owner
		}
		out = append(out, object{"apiVersion": "v1", "kind": "Namespace", "metadata": m})
	}
	return out
}

// teamUsers returns the usernames a team's members present through the team's permission sets.
func teamUsers(env *model.Env, t *model.Team) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range t.Members {
		for _, ps := range t.PermissionSets {
			if id, ok := env.IdentityFor(m, ps); ok && !seen[id.Username] {
				seen[id.Username] = true
				out = append(out, id.Username)
			}
		}
	}
	sort.Strings(out)
	return out
}

// rbac binds each team's members, by username, to the ClusterRole it holds in each of its
// namespaces (a RoleBinding) and across the cluster (a ClusterRoleBinding).
func rbac(env *model.Env) []object {
	var out []object
	for _, t := range env.Teams {
		users := teamUsers(env, t)
		if len(users) == 0 {
			continue
		}
		subjects := make([]object, len(users))
		for i, u := range users {
			subjects[i] = object{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": u}
		}
		var crbs []object
		for _, cr := range sortedCopy(t.ClusterRoles) {
			crbs = append(crbs, object{
				"apiVersion": "rbac.authorization.k8s.io/v1",
				"kind":       "ClusterRoleBinding",
				"metadata":   meta(env, "team:"+t.Name+":"+cr, ""),
				"roleRef":    object{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cr},
				"subjects":   subjects,
			})
		}
		out = append(out, crbs...)
		nss := append(t.Namespaces[:0:0], t.Namespaces...)
		sort.Slice(nss, func(i, j int) bool { return nss[i].Name < nss[j].Name })
		for _, ns := range nss {
			out = append(out, object{
				"apiVersion": "rbac.authorization.k8s.io/v1",
				"kind":       "RoleBinding",
				"metadata":   meta(env, "team:"+t.Name+":"+ns.Role, ns.Name),
				"roleRef":    object{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ns.Role},
				"subjects":   subjects,
			})
		}
	}
	return out
}

func serviceAccounts(env *model.Env) []object {
	var out []object
	for _, pi := range env.PodIdentities {
		m := meta(env, pi.ServiceAccount, pi.Namespace)
		out = append(out, object{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": m})
	}
	return out
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
