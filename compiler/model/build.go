package model

import (
	"fmt"
	"sort"
	"strings"

	"guardrail.dev/guardrail/compiler/apis/v1alpha1"
)

// Build resolves an environment. It expects input that load has validated; on other input it
// does not panic, but the result is unspecified.
func Build(file string, in *v1alpha1.Environment) *Env {
	s := &in.Spec
	e := &Env{
		Name:         in.Metadata.Name,
		File:         file,
		AccountID:    s.AWS.AccountID,
		Region:       s.AWS.Region,
		Partition:    s.AWS.Partition,
		Cluster:      s.Cluster.Name,
		Mode:         s.Cluster.AuthenticationMode,
		psByName:     map[string]*PermissionSet{},
		teamByName:   map[string]*Team{},
		personByName: map[string]*Person{},
	}
	if e.Partition == "" {
		e.Partition = "aws"
	}
	e.ClusterARN = fmt.Sprintf("arn:%s:eks:%s:%s:cluster/%s", e.Partition, e.Region, e.AccountID, e.Cluster)
	icRegion := s.AWS.IdentityCenterRegion
	if icRegion == "" {
		icRegion = s.AWS.Region
	}

	for i, p := range s.PermissionSets {
		ps := &PermissionSet{Name: p.Name, declaredIndex: i}
		if p.RoleARN != "" {
			ps.RoleARN = p.RoleARN
			ps.RoleName = p.RoleARN[strings.LastIndex(p.RoleARN, "/")+1:]
		} else {
			ps.RoleName = fmt.Sprintf("AWSReservedSSO_%s_%s", p.Name, p.RoleSuffix)
			ps.RoleARN = fmt.Sprintf("arn:%s:iam::%s:role%s%s", e.Partition, e.AccountID, SSORolePath(icRegion), ps.RoleName)
		}
		ps.CanonicalARN = fmt.Sprintf("arn:%s:iam::%s:role/%s", e.Partition, e.AccountID, ps.RoleName)
		if a := p.AccessEntry; a != nil {
			ae := &AccessEntry{Username: a.Username, UsernameTmpl: a.Username, Groups: a.Groups}
			if ae.UsernameTmpl == "" {
				ae.UsernameTmpl = DefaultEntryUsername(e.Partition, e.AccountID, ps.RoleName)
			}
			for _, ap := range a.AccessPolicies {
				ae.AccessPolicies = append(ae.AccessPolicies, AccessPolicy{
					Name:       ap.Policy,
					ARN:        AccessPolicyARN(e.Partition, ap.Policy),
					Cluster:    ap.Scope.Type == "cluster",
					Namespaces: ap.Scope.Namespaces,
				})
			}
			ps.AccessEntry = ae
		}
		if a := p.AWSAuth; a != nil {
			ps.AWSAuth = &AWSAuth{Username: a.Username, Groups: a.Groups}
		}
		apiOn := e.Mode == v1alpha1.ModeAPI || e.Mode == v1alpha1.ModeAPIAndConfigMap
		cmOn := e.Mode == v1alpha1.ModeConfigMap || e.Mode == v1alpha1.ModeAPIAndConfigMap
		switch {
		case ps.AccessEntry != nil && apiOn:
			ps.Via = ViaAccessEntry
			ps.ShadowedRow = ps.AWSAuth != nil && cmOn
		case ps.AWSAuth != nil && cmOn:
			ps.Via = ViaAWSAuth
		}
		e.PermissionSets = append(e.PermissionSets, ps)
		e.psByName[ps.Name] = ps
	}

	owners := map[string]string{}
	for _, t := range s.Teams {
		team := &Team{Name: t.Name, PermissionSets: t.PermissionSets, Members: t.Members, Namespaces: t.Namespaces, ClusterRoles: t.ClusterRoles}
		e.Teams = append(e.Teams, team)
		e.teamByName[t.Name] = team
		for _, m := range t.Members {
			p := e.personByName[m]
			if p == nil {
				p = &Person{Name: m}
				e.personByName[m] = p
				e.People = append(e.People, p)
			}
			p.Teams = append(p.Teams, t.Name)
			p.PermissionSets = append(p.PermissionSets, t.PermissionSets...)
		}
		for _, ns := range t.Namespaces {
			if _, ok := owners[ns.Name]; !ok {
				owners[ns.Name] = t.Name
			}
		}
	}
	for _, p := range e.People {
		p.Teams = uniqueSorted(p.Teams)
		p.PermissionSets = uniqueSorted(p.PermissionSets)
	}
	sort.Slice(e.People, func(i, j int) bool { return e.People[i].Name < e.People[j].Name })

	nsIndex := map[string]int{}
	addNS := func(name string, labels map[string]string) {
		if i, ok := nsIndex[name]; ok {
			if len(labels) > 0 {
				e.Namespaces[i].Labels = labels
			}
			return
		}
		nsIndex[name] = len(e.Namespaces)
		e.Namespaces = append(e.Namespaces, Namespace{Name: name, Labels: labels, Owner: owners[name]})
	}
	for _, ns := range s.Namespaces {
		addNS(ns.Name, ns.Labels)
	}
	for _, t := range s.Teams {
		for _, ns := range t.Namespaces {
			addNS(ns.Name, nil)
		}
	}
	sort.Slice(e.Namespaces, func(i, j int) bool { return e.Namespaces[i].Name < e.Namespaces[j].Name })

	for i, g := range s.Guardrails {
		e.Guardrails = append(e.Guardrails, e.buildGuardrail(i, g))
	}

	e.PodIdentities = append([]PodIdentity(nil), s.PodIdentities...)
	sort.Slice(e.PodIdentities, func(i, j int) bool {
		a, b := e.PodIdentities[i], e.PodIdentities[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.ServiceAccount < b.ServiceAccount
	})
	return e
}

func (e *Env) buildGuardrail(i int, g v1alpha1.Guardrail) *Guardrail {
	out := &Guardrail{
		Name:         g.Name,
		PolicyName:   "guardrail-" + g.Name,
		Message:      g.Message,
		Enforce:      g.Action != "Audit",
		Groups:       uniqueSorted(g.Deny.Groups),
		ClusterRoles: uniqueSorted(g.Deny.ClusterRoles),
		Operations:   g.Deny.Operations,
		Namespaces:   uniqueSorted(g.Deny.Namespaces),
		Index:        i,
	}
	var users []string
	people := append([]string(nil), g.Deny.People...)
	for _, t := range g.Deny.Teams {
		if team := e.teamByName[t]; team != nil {
			people = append(people, team.Members...)
		}
	}
	for _, p := range people {
		for _, id := range e.Identities(p) {
			users = append(users, id.Username)
		}
	}
	seen := map[Pattern]bool{}
	for _, name := range g.Deny.PermissionSets {
		ps := e.psByName[name]
		if ps == nil {
			continue
		}
		tmpl, _, ok := ps.UsernameTemplate()
		if !ok {
			continue
		}
		if p, ok := PatternOf(tmpl, e.AccountID); ok {
			if !seen[p] {
				seen[p] = true
				out.UsernamePatterns = append(out.UsernamePatterns, p)
			}
		} else {
			users = append(users, Expand(tmpl, "", e.AccountID))
		}
	}
	sort.Slice(out.UsernamePatterns, func(i, j int) bool {
		a, b := out.UsernamePatterns[i], out.UsernamePatterns[j]
		if a.Prefix != b.Prefix {
			return a.Prefix < b.Prefix
		}
		return a.Suffix < b.Suffix
	})
	out.Usernames = uniqueSorted(users)
	for _, k := range g.Deny.Kinds {
		out.Kinds = append(out.Kinds, ParseKind(k))
	}
	return out
}
