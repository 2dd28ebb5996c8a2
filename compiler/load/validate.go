package load

import (
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"guardrail.dev/guardrail/compiler/apis/v1alpha1"
	"guardrail.dev/guardrail/compiler/model"
	"guardrail.dev/guardrail/compiler/resources"
)

// AccessPolicies are the AWS managed EKS access policies a permission set may associate.
var AccessPolicies = []string{
	"AmazonEKSAdminPolicy",
	"AmazonEKSAdminViewPolicy",
	"AmazonEKSClusterAdminPolicy",
	"AmazonEKSEditPolicy",
	"AmazonEKSSecretReaderPolicy",
	"AmazonEKSViewPolicy",
}

var (
	accountRe      = regexp.MustCompile(`^[0-9]{12}$`)
	regionRe       = regexp.MustCompile(`^(af|ap|ca|cn|eu|eusc|il|me|mx|sa|us)(-gov|-iso[a-z]?|-[a-z]{2})?-(north|south|east|west|central|northeast|northwest|southeast|southwest)-[1-9]$`)
	clusterNameRe  = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$`)
	psNameRe       = regexp.MustCompile(`^[\w+=,.@-]{1,32}$`)
	suffixRe       = regexp.MustCompile(`^[0-9A-Za-z]{1,32}$`)
	sessionRe      = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	roleARNRe      = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov):iam::([0-9]{12}):role((?:/[\w+=,.@-]+)*/)([\w+=,.@-]{1,64})$`)
	ssoPathRe      = regexp.MustCompile(`^/aws-reserved/sso\.amazonaws\.com/(?:([a-z]{2}(?:-[a-z]+)+-[0-9]+)/)?$`)
	placeholderRe  = regexp.MustCompile(`\{\{[^}]*\}\}`)
	reservedPrefix = []string{"system:", "eks:", "aws:", "amazon:", "iam:"}
)

var modes = []string{v1alpha1.ModeAPI, v1alpha1.ModeAPIAndConfigMap, v1alpha1.ModeConfigMap}
var operations = []string{"CREATE", "UPDATE", "DELETE", "CONNECT"}

// Validate checks a decoded file: every field rule and cross-reference, then the lints. It
// returns all problems, sorted by position.
func Validate(f *File) Diagnostics {
	v := &validator{f: f, env: f.Env}
	v.run()
	if len(v.ds.Errors(false)) == 0 {
		v.lint(model.Build(f.Path, f.Env))
	}
	v.ds.Sort()
	return v.ds
}

type validator struct {
	f   *File
	env *v1alpha1.Environment
	ds  Diagnostics
}

func (v *validator) errf(path, fix, format string, args ...any) {
	v.ds = append(v.ds, v.f.diag(Error, path, fix, format, args...))
}

func (v *validator) warnf(path, fix, format string, args ...any) {
	v.ds = append(v.ds, v.f.diag(Warning, path, fix, format, args...))
}

func (v *validator) required(path, value, fix string) bool {
	if value == "" {
		v.errf(path, fix, "required field is missing or empty")
		return false
	}
	return true
}

func (v *validator) oneOf(path, value string, allowed []string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	fix := "use one of " + strings.Join(allowed, ", ")
	if s := nearest(value, allowed); s != "" {
		fix = fmt.Sprintf("did you mean %q? allowed: %s", s, strings.Join(allowed, ", "))
	}
	v.errf(path, fix, "%q is not allowed", value)
}

func (v *validator) dnsLabel(path, value, what string) {
	if !v.required(path, value, "set the "+what) {
		return
	}
	if errs := validation.IsDNS1123Label(value); len(errs) > 0 {
		v.errf(path, "use lower case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
			"%q is not a valid %s: %s", value, what, strings.Join(errs, "; "))
	}
}

// ref checks a reference against the known names and suggests the nearest one.
func (v *validator) ref(path, value, what, where string, known map[string]bool) bool {
	if known[value] {
		return true
	}
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	fix := "declare it under " + where + " or fix the name"
	if s := nearest(value, names); s != "" {
		fix = fmt.Sprintf("did you mean %q? or declare it under %s", s, where)
	}
	v.errf(path, fix, "unknown %s %q", what, value)
	return false
}

func (v *validator) noDuplicates(path string, values []string, what string) {
	seen := map[string]bool{}
	for i, s := range values {
		if seen[s] {
			v.errf(fmt.Sprintf("%s[%d]", path, i), "remove the repeated entry", "%s %q is listed twice", what, s)
		}
		seen[s] = true
	}
}

func (v *validator) run() {
	e := v.env
	if e.APIVersion != v1alpha1.APIVersion {
		v.errf("apiVersion", "set apiVersion: "+v1alpha1.APIVersion, "expected %q, found %q", v1alpha1.APIVersion, e.APIVersion)
	}
	if e.Kind != v1alpha1.Kind {
		v.errf("kind", "set kind: "+v1alpha1.Kind, "expected %q, found %q", v1alpha1.Kind, e.Kind)
	}
	v.dnsLabel("metadata.name", e.Metadata.Name, "environment name")
	if e.Metadata.Name == "base" {
		v.errf("metadata.name", "choose another name: deploy/base holds the policies/ library", "the environment name %q is reserved", e.Metadata.Name)
	}
	v.labels("metadata.labels", e.Metadata.Labels)
	if base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(v.f.Path), ".yaml"), ".yml"); e.Metadata.Name != "" && e.Metadata.Name != "base" &&
		len(validation.IsDNS1123Label(e.Metadata.Name)) == 0 && base != e.Metadata.Name && base != filepath.Base(v.f.Path) {
		v.warnf("metadata.name", fmt.Sprintf("name the file %s.yaml, or the environment %q", e.Metadata.Name, base),
			"the environment in %s is named %q: compile names its output directory %s", filepath.Base(v.f.Path), e.Metadata.Name, e.Metadata.Name)
	}
	if _, ok := v.f.pos["spec"]; !ok {
		v.errf("spec", "add spec with aws, cluster, permissionSets and teams (see docs/environment.md)", "required field is missing")
		return
	}
	if reflect.DeepEqual(e.Spec, v1alpha1.EnvironmentSpec{}) {
		v.errf("spec", "give it aws, cluster, permissionSets and teams (see docs/environment.md)", "spec is empty")
		return
	}

	s := &e.Spec
	if v.required("spec.aws.accountId", s.AWS.AccountID, `give the 12-digit account ID, quoted: accountId: "123456789012"`) &&
		!accountRe.MatchString(s.AWS.AccountID) {
		v.errf("spec.aws.accountId", "an AWS account ID is exactly 12 digits", "%q is not a 12-digit account ID", s.AWS.AccountID)
	}
	if v.required("spec.aws.region", s.AWS.Region, "give the cluster's region, for example eu-west-1") && !regionRe.MatchString(s.AWS.Region) {
		v.errf("spec.aws.region", "write a region such as eu-west-1 or ap-northeast-2", "%q is not an AWS region", s.AWS.Region)
	}
	if r := s.AWS.IdentityCenterRegion; r != "" && !regionRe.MatchString(r) {
		v.errf("spec.aws.identityCenterRegion", "write a region such as us-east-1", "%q is not an AWS region", r)
	}
	if s.AWS.Partition != "" {
		v.oneOf("spec.aws.partition", s.AWS.Partition, []string{"aws", "aws-cn", "aws-us-gov"})
	}
	if v.required("spec.cluster.name", s.Cluster.Name, "give the EKS cluster's name") && !clusterNameRe.MatchString(s.Cluster.Name) {
		v.errf("spec.cluster.name", "an EKS cluster name starts with a letter or digit and holds letters, digits, '-' and '_' (at most 100)",
			"%q is not a valid EKS cluster name", s.Cluster.Name)
	}
	if v.required("spec.cluster.authenticationMode", s.Cluster.AuthenticationMode, "use one of "+strings.Join(modes, ", ")) {
		v.oneOf("spec.cluster.authenticationMode", s.Cluster.AuthenticationMode, modes)
	}

	psNames := v.permissionSets()
	teamNames, people := v.teams(psNames)
	nsNames := v.namespaces()
	v.guardrails(psNames, teamNames, people, nsNames)
	v.podIdentities(nsNames)
}

func (v *validator) labels(path string, labels map[string]string) {
	for _, k := range sortedKeys(labels) {
		p := path + "[" + fmt.Sprintf("%q", k) + "]"
		if k == "kubernetes.io/metadata.name" || k == "app.kubernetes.io/managed-by" || strings.HasPrefix(k, "guardrail.dev/") {
			v.errf(p, "remove it: the API server or guardrail sets it", "label %q is reserved", k)
			continue
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			v.errf(p, "a label key is [prefix/]name, name at most 63 characters of letters, digits, '-', '_' and '.'",
				"invalid label key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(labels[k]); len(errs) > 0 {
			v.errf(p, "a label value is at most 63 characters of letters, digits, '-', '_' and '.'",
				"invalid label value %q: %s", labels[k], strings.Join(errs, "; "))
		}
	}
}

func (v *validator) permissionSets() map[string]bool {
	s := &v.env.Spec
	names := map[string]bool{}
	arns := map[string]string{}
	mode := s.Cluster.AuthenticationMode
	for i, ps := range s.PermissionSets {
		p := fmt.Sprintf("spec.permissionSets[%d]", i)
		if v.required(p+".name", ps.Name, "give the permission set's name as Identity Center shows it") {
			if !psNameRe.MatchString(ps.Name) {
				v.errf(p+".name", "a permission set name is 1-32 characters of letters, digits and _+=,.@-",
					"%q is not a valid permission set name", ps.Name)
			}
			if names[ps.Name] {
				v.errf(p+".name", "remove one of them or rename it", "permission set %q is declared twice", ps.Name)
			}
			names[ps.Name] = true
		}
		var roleName string
		switch {
		case ps.RoleSuffix != "" && ps.RoleARN != "":
			v.errf(p+".roleArn", "keep roleSuffix or roleArn, not both", "roleSuffix and roleArn are both given")
		case ps.RoleSuffix == "" && ps.RoleARN == "":
			v.errf(p, "add roleSuffix (the part after AWSReservedSSO_"+ps.Name+"_) or the full roleArn", "the role is not named")
		case ps.RoleSuffix != "":
			if !suffixRe.MatchString(ps.RoleSuffix) {
				v.errf(p+".roleSuffix", "copy the suffix from the role name AWSReservedSSO_<name>_<suffix>", "%q is not a role suffix", ps.RoleSuffix)
			}
			roleName = "AWSReservedSSO_" + ps.Name + "_" + ps.RoleSuffix
		default:
			roleName = v.ssoRoleARN(p+".roleArn", ps.Name, ps.RoleARN)
		}
		if roleName != "" {
			if len(roleName) > 64 {
				v.errf(p+".name", "IAM role names have at most 64 characters", "role name %s is %d characters long", roleName, len(roleName))
			}
			if prev, dup := arns[roleName]; dup {
				v.errf(p, "each role can be mapped once: merge the two permission sets",
					"permission set %q maps the same role %s as %s", ps.Name, roleName, prev)
			}
			arns[roleName] = p
		}
		if ps.AccessEntry == nil && ps.AWSAuth == nil {
			v.errf(p, "add accessEntry (authentication modes API, API_AND_CONFIG_MAP) or awsAuth (CONFIG_MAP, API_AND_CONFIG_MAP)",
				"permission set %q does not say how its role reaches the cluster", ps.Name)
		}
		if ae := ps.AccessEntry; ae != nil {
			if mode == v1alpha1.ModeConfigMap {
				v.errf(p+".accessEntry", "use awsAuth, or change spec.cluster.authenticationMode to API_AND_CONFIG_MAP",
					"a CONFIG_MAP cluster has no access entries")
			}
			v.entryUsername(p+".accessEntry.username", ae.Username)
			for j, g := range ae.Groups {
				gp := fmt.Sprintf("%s.accessEntry.groups[%d]", p, j)
				if g == "" {
					v.errf(gp, "remove it or name a group", "empty group name")
				} else if strings.HasPrefix(g, "system:") {
					fix := "name a group of your own and bind it with RBAC"
					if g == "system:masters" {
						fix = "associate AmazonEKSClusterAdminPolicy with cluster scope instead"
					}
					v.errf(gp, fix, "EKS rejects access entry groups that start with system: (%q)", g)
				} else if strings.ContainsAny(g, "*?") || strings.Contains(g, "{{") {
					v.errf(gp, "remove the wildcard or template characters", "group %q contains *, ? or {{, which Kyverno would read as a pattern or variable", g)
				}
			}
			v.noDuplicates(p+".accessEntry.groups", ae.Groups, "group")
			seen := map[string]bool{}
			for j, ap := range ae.AccessPolicies {
				ap := ap
				pp := fmt.Sprintf("%s.accessEntry.accessPolicies[%d]", p, j)
				if v.required(pp+".policy", ap.Policy, "name an AWS managed policy: "+strings.Join(AccessPolicies, ", ")) {
					v.oneOf(pp+".policy", ap.Policy, AccessPolicies)
					if seen[ap.Policy] {
						v.errf(pp+".policy", "merge the scopes into one association: EKS keeps one association per policy and entry",
							"policy %s is associated twice", ap.Policy)
					}
					seen[ap.Policy] = true
				}
				v.scope(pp+".scope", &ap.Scope)
			}
		}
		if aa := ps.AWSAuth; aa != nil {
			if mode == v1alpha1.ModeAPI {
				v.errf(p+".awsAuth", "use accessEntry: an API cluster ignores the aws-auth ConfigMap",
					"an API cluster has no aws-auth ConfigMap")
			}
			if v.required(p+".awsAuth.username", aa.Username, `give a username template such as "devops-{{SessionName}}"`) {
				v.template(p+".awsAuth.username", aa.Username, true)
			}
			for j, g := range aa.Groups {
				gp := fmt.Sprintf("%s.awsAuth.groups[%d]", p, j)
				if g == "" {
					v.errf(gp, "remove it or name a group", "empty group name")
				} else {
					v.template(gp, g, true)
				}
			}
			v.noDuplicates(p+".awsAuth.groups", aa.Groups, "group")
		}
	}
	return names
}

// ssoRoleARN checks an Identity Center role ARN and returns its role name.
func (v *validator) ssoRoleARN(path, psName, arn string) string {
	m := roleARNRe.FindStringSubmatch(arn)
	if m == nil {
		v.errf(path, "write arn:aws:iam::<account>:role/aws-reserved/sso.amazonaws.com/<region>/AWSReservedSSO_<name>_<suffix>",
			"%q is not an IAM role ARN", arn)
		return ""
	}
	if m[2] != v.env.Spec.AWS.AccountID {
		v.errf(path, "Identity Center provisions the role in the cluster's account: use account "+v.env.Spec.AWS.AccountID,
			"role is in account %s, not in spec.aws.accountId", m[2])
	}
	if p := v.env.Spec.AWS.Partition; m[1] != p && !(p == "" && m[1] == "aws") {
		v.errf(path, "use the partition of spec.aws.partition", "role ARN is in partition %s", m[1])
	}
	if !ssoPathRe.MatchString(m[3]) {
		v.errf(path, "Identity Center roles live under the path /aws-reserved/sso.amazonaws.com/[<region>/]; copy the ARN from aws iam get-role",
			"role path %q is not the Identity Center path", m[3])
	}
	prefix := "AWSReservedSSO_" + psName + "_"
	if !strings.HasPrefix(m[4], prefix) || !suffixRe.MatchString(strings.TrimPrefix(m[4], prefix)) {
		v.errf(path, "Identity Center names the role "+prefix+"<suffix>", "role name %q does not belong to permission set %q", m[4], psName)
	}
	return m[4]
}

// entryUsername checks an access entry username against EKS's rules.
func (v *validator) entryUsername(path, u string) {
	if u == "" {
		return
	}
	for _, p := range reservedPrefix {
		if strings.HasPrefix(u, p) {
			v.errf(path, "EKS reserves system:, eks:, aws:, amazon: and iam:; choose another prefix",
				"access entry username %q starts with %s", u, p)
		}
	}
	v.template(path, u, false)
	if i := strings.Index(u, "{{SessionName"); i >= 0 && !strings.Contains(u[:i], ":") {
		v.errf(path, fmt.Sprintf("put a ':' before the placeholder, for example %q", "user:"+u[i:]),
			"EKS requires a ':' before {{SessionName}} or {{SessionNameRaw}} in an access entry username")
	}
}

// template checks the placeholders of a username or group template.
func (v *validator) template(path, t string, awsAuth bool) {
	allowed := []string{model.SessionName, model.SessionNameRaw}
	if awsAuth {
		allowed = append(allowed, model.AccountID)
	}
	for _, ph := range placeholderRe.FindAllString(t, -1) {
		ok := false
		for _, a := range allowed {
			ok = ok || ph == a
		}
		if !ok {
			fix := "use " + strings.Join(allowed, " or ")
			switch ph {
			case "{{EC2PrivateDNSName}}", "{{AccessKeyID}}":
				fix = ph + " is for node and access-key mappings, not people: " + fix
			}
			v.errf(path, fix, "placeholder %s is not supported here", ph)
		}
	}
	rest := placeholderRe.ReplaceAllString(t, "")
	if strings.Contains(rest, "{{") || strings.Contains(rest, "}}") {
		v.errf(path, "close the placeholder: {{SessionName}}", "unbalanced {{ or }} in %q", t)
	}
	if strings.ContainsAny(rest, "*?") {
		v.errf(path, "remove * and ?", "%q contains * or ?, which Kyverno would read as wildcards", t)
	}
}

func (v *validator) scope(path string, s *v1alpha1.AccessScope) {
	if !v.required(path+".type", s.Type, "use cluster or namespace") {
		return
	}
	v.oneOf(path+".type", s.Type, []string{"cluster", "namespace"})
	switch s.Type {
	case "cluster":
		if len(s.Namespaces) > 0 {
			v.errf(path+".namespaces", "remove namespaces, or use type: namespace", "a cluster scope takes no namespaces")
		}
	case "namespace":
		if len(s.Namespaces) == 0 {
			v.errf(path+".namespaces", "list the namespaces, for example [app-payments, dev-*]", "a namespace scope needs namespaces")
		}
	}
	for i, ns := range s.Namespaces {
		p := fmt.Sprintf("%s.namespaces[%d]", path, i)
		name := strings.TrimSuffix(ns, "*")
		if strings.Contains(name, "*") || name == "" && ns != "*" {
			v.errf(p, "EKS documents only a trailing * (dev-*)", "%q is not a namespace or a namespace prefix", ns)
			continue
		}
		if name == "" {
			continue
		}
		check := name
		if strings.HasSuffix(ns, "*") {
			check = strings.TrimRight(name, "-") + "x" // a prefix may end in '-'
		}
		if errs := validation.IsDNS1123Label(check); len(errs) > 0 {
			v.errf(p, "use a namespace name, or a prefix followed by *", "%q is not a valid namespace: %s", ns, strings.Join(errs, "; "))
		}
	}
	v.noDuplicates(path+".namespaces", s.Namespaces, "namespace")
}

func (v *validator) teams(psNames map[string]bool) (map[string]bool, map[string]bool) {
	s := &v.env.Spec
	names, people := map[string]bool{}, map[string]bool{}
	owner := map[string]string{}
	for i, t := range s.Teams {
		p := fmt.Sprintf("spec.teams[%d]", i)
		v.dnsLabel(p+".name", t.Name, "team name")
		if t.Name != "" {
			if names[t.Name] {
				v.errf(p+".name", "rename one of them", "team %q is declared twice", t.Name)
			}
			names[t.Name] = true
		}
		if len(t.PermissionSets) == 0 {
			v.errf(p+".permissionSets", "list the permission sets the members sign in with", "a team needs at least one permission set")
		}
		for j, ps := range t.PermissionSets {
			v.ref(fmt.Sprintf("%s.permissionSets[%d]", p, j), ps, "permission set", "spec.permissionSets", psNames)
		}
		v.noDuplicates(p+".permissionSets", t.PermissionSets, "permission set")
		if len(t.Members) == 0 {
			v.errf(p+".members", "list the members' Identity Center user names", "a team needs at least one member")
		}
		for j, m := range t.Members {
			mp := fmt.Sprintf("%s.members[%d]", p, j)
			if !sessionRe.MatchString(m) {
				v.errf(mp, "an Identity Center user name becomes the STS session name: 2-64 characters of letters, digits and _+=,.@-",
					"%q is not a valid session name", m)
			}
			people[m] = true
		}
		v.noDuplicates(p+".members", t.Members, "member")
		for j, ns := range t.Namespaces {
			np := fmt.Sprintf("%s.namespaces[%d]", p, j)
			v.dnsLabel(np+".name", ns.Name, "namespace name")
			if ns.Name != "" {
				if prev, dup := owner[ns.Name]; dup {
					v.errf(np+".name", "a namespace has one owning team; give the other team a ClusterRole or a second namespace",
						"namespace %q is already owned by team %q", ns.Name, prev)
				} else {
					owner[ns.Name] = t.Name
				}
			}
			v.roleName(np+".role", ns.Role)
		}
		for j, cr := range t.ClusterRoles {
			v.roleName(fmt.Sprintf("%s.clusterRoles[%d]", p, j), cr)
		}
		v.noDuplicates(p+".clusterRoles", t.ClusterRoles, "cluster role")
	}
	return names, people
}

// groups are the Kubernetes groups people mistake for ClusterRoles.
var groups = map[string]bool{"system:masters": true, "system:authenticated": true, "system:unauthenticated": true, "system:serviceaccounts": true, "system:nodes": true}

// defaultClusterRoles are the user-facing ClusterRoles every Kubernetes cluster has.
var defaultClusterRoles = []string{"admin", "cluster-admin", "edit", "view"}

func (v *validator) roleName(path, name string) {
	if !v.required(path, name, "name a ClusterRole such as admin, edit or view") {
		return
	}
	near := nearest(name, defaultClusterRoles)
	if errs := validation.IsDNS1123Subdomain(strings.ReplaceAll(name, ":", "-")); len(errs) > 0 {
		fix := "ClusterRole names are lowercase letters, digits, '-', '.' and ':', such as admin, edit or view"
		if near != "" {
			fix = fmt.Sprintf("did you mean %q?", near)
		}
		v.errf(path, fix, "%q is not a valid ClusterRole name", name)
		return
	}
	if groups[name] {
		v.warnf(path, "a binding to it grants nothing: for full power use the ClusterRole cluster-admin, or map the permission set to the group",
			"%q is a Kubernetes group, not a ClusterRole", name)
		return
	}
	if near != "" && near != name {
		// A custom ClusterRole is fine, but one a letter or two from a default one is more
		// likely a typo: the binding would grant nothing.
		v.warnf(path, fmt.Sprintf("did you mean %q? A ClusterRole %q must exist in the cluster, or the binding grants nothing", near, name),
			"%q is not a Kubernetes default ClusterRole (%s)", name, strings.Join(defaultClusterRoles, ", "))
	}
}

func (v *validator) namespaces() map[string]bool {
	s := &v.env.Spec
	names := map[string]bool{}
	for i, ns := range s.Namespaces {
		p := fmt.Sprintf("spec.namespaces[%d]", i)
		v.dnsLabel(p+".name", ns.Name, "namespace name")
		if names[ns.Name] && ns.Name != "" {
			v.errf(p+".name", "merge the two entries", "namespace %q is listed twice", ns.Name)
		}
		names[ns.Name] = true
		v.labels(p+".labels", ns.Labels)
	}
	for _, t := range s.Teams {
		for _, ns := range t.Namespaces {
			names[ns.Name] = true
		}
	}
	return names
}

func (v *validator) guardrails(psNames, teamNames, people, nsNames map[string]bool) {
	seen := map[string]bool{}
	for i, g := range v.env.Spec.Guardrails {
		p := fmt.Sprintf("spec.guardrails[%d]", i)
		v.dnsLabel(p+".name", g.Name, "guardrail name")
		if len(g.Name) > 53 {
			v.errf(p+".name", "shorten it to 53 characters", "the policy name guardrail-%s is longer than 63 characters", g.Name)
		}
		if seen[g.Name] && g.Name != "" {
			v.errf(p+".name", "rename one of them", "guardrail %q is declared twice", g.Name)
		}
		seen[g.Name] = true
		d := &g.Deny
		if len(d.People)+len(d.Teams)+len(d.Groups)+len(d.PermissionSets)+len(d.ClusterRoles) == 0 {
			v.errf(p+".deny", "name people, teams, groups, permissionSets or clusterRoles", "the guardrail names nobody, so it would stop everyone")
		}
		for j, person := range d.People {
			v.ref(fmt.Sprintf("%s.deny.people[%d]", p, j), person, "person", "the members of a team in spec.teams", people)
		}
		v.noDuplicates(p+".deny.people", d.People, "person")
		for j, t := range d.Teams {
			v.ref(fmt.Sprintf("%s.deny.teams[%d]", p, j), t, "team", "spec.teams", teamNames)
		}
		v.noDuplicates(p+".deny.teams", d.Teams, "team")
		for j, ps := range d.PermissionSets {
			v.ref(fmt.Sprintf("%s.deny.permissionSets[%d]", p, j), ps, "permission set", "spec.permissionSets", psNames)
		}
		v.noDuplicates(p+".deny.permissionSets", d.PermissionSets, "permission set")
		for j, grp := range d.Groups {
			gp := fmt.Sprintf("%s.deny.groups[%d]", p, j)
			if grp == "" {
				v.errf(gp, "name a Kubernetes group", "empty group name")
			} else if strings.ContainsAny(grp, "*?") || strings.Contains(grp, "{{") {
				v.errf(gp, "name the group exactly", "group %q contains *, ? or {{", grp)
			}
		}
		v.noDuplicates(p+".deny.groups", d.Groups, "group")
		for j, cr := range d.ClusterRoles {
			v.roleName(fmt.Sprintf("%s.deny.clusterRoles[%d]", p, j), cr)
		}
		if len(d.Operations) == 0 {
			v.errf(p+".deny.operations", "list them, for example [CREATE, UPDATE, DELETE]", "a guardrail needs at least one operation")
		}
		for j, op := range d.Operations {
			v.oneOf(fmt.Sprintf("%s.deny.operations[%d]", p, j), op, operations)
		}
		v.noDuplicates(p+".deny.operations", d.Operations, "operation")
		if len(d.Namespaces) == 0 {
			v.errf(p+".deny.namespaces", "list the namespaces the guardrail protects", "a guardrail needs at least one namespace")
		}
		for j, ns := range d.Namespaces {
			np := fmt.Sprintf("%s.deny.namespaces[%d]", p, j)
			v.dnsLabel(np, ns, "namespace name")
			if filteredNamespaces[ns] {
				v.warnf(np, "protect it another way (RBAC, or a Kyverno install without this filter)",
					"a default Kyverno install does not admit requests in %s (its resourceFilters and webhook namespaceSelector skip it), so this guardrail never applies there", ns)
			} else if ns != "" && !nsNames[ns] {
				v.warnf(np, "declare it under spec.namespaces, or ignore this if the cluster creates it", "namespace %q is not declared in this environment", ns)
			}
		}
		v.noDuplicates(p+".deny.namespaces", d.Namespaces, "namespace")
		for j, k := range d.Kinds {
			kp := fmt.Sprintf("%s.deny.kinds[%d]", p, j)
			kind := model.ParseKind(k)
			if !kindRe.MatchString(kind.Kind) || (kind.Group != "" && len(validation.IsDNS1123Subdomain(kind.Group)) > 0) {
				v.errf(kp, "write Kind or group/Kind, for example ConfigMap or apps/Deployment", "%q is not a kind", k)
			} else if kind.Group == "" || resources.KnownGroup(kind.Group) {
				if _, err := resources.Lookup(k); err != nil {
					fix := "write a Kubernetes kind such as ConfigMap, Secret or apps/Deployment; custom resources need their group (example.com/Widget)"
					if s := nearest(k, resources.Kinds()); s != "" {
						fix = fmt.Sprintf("did you mean %q?", s)
					}
					v.errf(kp, fix, "unknown kind %q: the guardrail would match nothing", k)
				}
			}
		}
		v.noDuplicates(p+".deny.kinds", d.Kinds, "kind")
		if strings.TrimSpace(g.Message) == "" {
			v.errf(p+".message", "say what is refused and whom to ask", "a guardrail needs a message")
		} else if len(g.Message) > maxMessage {
			v.errf(p+".message", fmt.Sprintf("keep it under %d characters: it is shown in kubectl's error", maxMessage), "the message has %d characters", len(g.Message))
		}
		if g.Action != "" {
			v.oneOf(p+".action", g.Action, []string{"Deny", "Audit"})
		}
	}
}

// filteredNamespaces are the namespaces a default Kyverno install never admits requests in.
var filteredNamespaces = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true, "kyverno": true}

// maxMessage bounds a guardrail message: it is sent back on every denial.
const maxMessage = 1024

var kindRe = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)

func (v *validator) podIdentities(nsNames map[string]bool) {
	seen := map[string]string{}
	for i, pi := range v.env.Spec.PodIdentities {
		p := fmt.Sprintf("spec.podIdentities[%d]", i)
		v.dnsLabel(p+".namespace", pi.Namespace, "namespace name")
		if v.required(p+".serviceAccount", pi.ServiceAccount, "name the service account") {
			if errs := validation.IsDNS1123Subdomain(pi.ServiceAccount); len(errs) > 0 {
				v.errf(p+".serviceAccount", "use lower case letters, digits, '-' and '.'", "%q is not a valid service account name: %s",
					pi.ServiceAccount, strings.Join(errs, "; "))
			}
		}
		key := pi.Namespace + "/" + pi.ServiceAccount
		if prev, dup := seen[key]; dup {
			v.errf(p, "EKS allows one association per service account: remove one, or use targetRoleArn to chain roles",
				"service account %s already has an association (%s)", key, prev)
		}
		seen[key] = p
		if v.required(p+".roleArn", pi.RoleARN, "give the IAM role ARN pods assume") {
			if m := roleARNRe.FindStringSubmatch(pi.RoleARN); m == nil {
				v.errf(p+".roleArn", "write arn:aws:iam::<account>:role/<name>", "%q is not an IAM role ARN", pi.RoleARN)
			} else if m[2] != v.env.Spec.AWS.AccountID {
				v.errf(p+".roleArn", "the role must be in the cluster's account (EKS checks iam:PassRole); put a cross-account role in targetRoleArn",
					"role is in account %s, not %s", m[2], v.env.Spec.AWS.AccountID)
			}
		}
		if pi.TargetRoleARN != "" && roleARNRe.FindStringSubmatch(pi.TargetRoleARN) == nil {
			v.errf(p+".targetRoleArn", "write arn:aws:iam::<account>:role/<name>", "%q is not an IAM role ARN", pi.TargetRoleARN)
		}
		if len(pi.Tags) > 50 {
			v.errf(p+".tags", "keep at most 50 tags", "%d tags; EKS allows 50", len(pi.Tags))
		}
		for _, k := range sortedKeys(pi.Tags) {
			tp := fmt.Sprintf("%s.tags[%q]", p, k)
			switch {
			case len(k) == 0 || len(k) > 128:
				v.errf(tp, "tag keys have 1-128 characters", "tag key %q has %d characters", k, len(k))
			case strings.HasPrefix(strings.ToLower(k), "aws:"):
				v.errf(tp, "choose another key", "tag keys starting with aws: are reserved")
			}
			if len(pi.Tags[k]) > 256 {
				v.errf(tp, "tag values have at most 256 characters", "tag value has %d characters", len(pi.Tags[k]))
			}
		}
		if pi.Namespace != "" && !nsNames[pi.Namespace] {
			v.warnf(p+".namespace", "declare it under spec.namespaces so the overlay creates it before the ServiceAccount",
				"namespace %q is not declared in this environment", pi.Namespace)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
