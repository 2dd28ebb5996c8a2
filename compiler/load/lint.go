package load

import (
	"fmt"
	"strings"

	"guardrail.dev/guardrail/compiler/model"
)

// lint adds the warnings: input that is valid but probably does not do what its author meant.
func (v *validator) lint(env *model.Env) {
	used := map[string]bool{}
	for _, t := range v.env.Spec.Teams {
		for _, ps := range t.PermissionSets {
			used[ps] = true
		}
	}
	for i, ps := range env.PermissionSets {
		p := fmt.Sprintf("spec.permissionSets[%d]", i)
		if !used[ps.Name] {
			v.warnf(p+".name", "add it to a team's permissionSets, or remove it", "permission set %q is used by no team", ps.Name)
		}
		if ps.ShadowedRow {
			v.warnf(p+".awsAuth", "remove the awsAuth row once the access entry works (eksctl utils migrate-to-access-entry)",
				"the access entry wins over the aws-auth row for the same role, so this row has no effect")
		}
		if ps.Via == "" && (ps.AccessEntry != nil || ps.AWSAuth != nil) {
			v.warnf(p, "check spec.cluster.authenticationMode", "permission set %q is not mapped under authentication mode %s", ps.Name, env.Mode)
		}
	}
	for i, t := range v.env.Spec.Teams {
		for j, m := range t.Members {
			if len(env.Identities(m)) == 0 {
				v.warnf(fmt.Sprintf("spec.teams[%d].members[%d]", i, j), "give the team a permission set that is mapped into the cluster",
					"%s reaches the cluster through no permission set", m)
			}
		}
	}
	for i, g := range v.env.Spec.Guardrails {
		p := fmt.Sprintf("spec.guardrails[%d]", i)
		for j, person := range g.Deny.People {
			v.lintShared(fmt.Sprintf("%s.deny.people[%d]", p, j), env, person)
		}
		for j, team := range g.Deny.Teams {
			if t := env.Team(team); t != nil {
				for _, m := range t.Members {
					v.lintShared(fmt.Sprintf("%s.deny.teams[%d]", p, j), env, m)
				}
			}
		}
		if len(g.Deny.ClusterRoles) > 0 {
			v.lintAccessPolicyTrap(p, env, env.Guardrails[i], g.Deny.People, g.Deny.Teams, g.Deny.PermissionSets, g.Deny.Groups)
		}
	}
}

// lintShared warns when a person reaches the cluster under a username that does not name them.
func (v *validator) lintShared(path string, env *model.Env, person string) {
	for _, id := range env.Identities(person) {
		if id.Shared {
			v.warnf(path, fmt.Sprintf("put {{SessionName}} in the username of permission set %s", id.PermissionSet),
				"%s signs in through permission set %s as %q, a username everyone in that permission set shares, so the guardrail cannot single them out",
				person, id.PermissionSet, id.Username)
		}
	}
}

// lintAccessPolicyTrap warns when a guardrail matches clusterRoles but a requester it is about
// gets their power from an EKS access policy, which Kyverno's clusterRoles match cannot see.
func (v *validator) lintAccessPolicyTrap(path string, env *model.Env, g *model.Guardrail, people, teams, sets, groups []string) {
	targets := map[string]bool{}
	everyone := len(people)+len(teams)+len(sets)+len(groups) == 0
	for _, person := range people {
		if p := env.Person(person); p != nil {
			for _, ps := range p.PermissionSets {
				targets[ps] = true
			}
		}
	}
	for _, team := range teams {
		if t := env.Team(team); t != nil {
			for _, ps := range t.PermissionSets {
				targets[ps] = true
			}
		}
	}
	for _, ps := range sets {
		targets[ps] = true
	}
	for _, ps := range env.PermissionSets {
		if ps.Via != model.ViaAccessEntry {
			continue
		}
		if !targets[ps.Name] && !everyone && !sharesGroup(ps.AccessEntry.Groups, groups) {
			continue
		}
		for _, ap := range ps.AccessEntry.AccessPolicies {
			if !scopeCovers(ap, g.Namespaces) {
				continue
			}
			v.warnf(path+".deny.clusterRoles",
				"match the people without clusterRoles, or grant the power with a ClusterRoleBinding",
				"permission set %s gets its power from the EKS access policy %s, which is not an RBAC binding: Kyverno computes no clusterRoles (%s) from it, so this guardrail does not apply to its users",
				ps.Name, ap.Name, strings.Join(g.ClusterRoles, ", "))
		}
	}
}

func sharesGroup(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// scopeCovers reports whether an access policy association applies in any of the namespaces.
func scopeCovers(ap model.AccessPolicy, namespaces []string) bool {
	if ap.Cluster {
		return true
	}
	for _, ns := range namespaces {
		for _, pat := range ap.Namespaces {
			if pat == ns || strings.HasSuffix(pat, "*") && strings.HasPrefix(ns, strings.TrimSuffix(pat, "*")) {
				return true
			}
		}
	}
	return false
}
