// Package model is the resolved form of an environment: permission sets with their role ARNs,
// people with every Kubernetes identity they can present, guardrails with the usernames they
// match. Emitters and the simulator read it; nothing here touches files.
//
// Start with Build, which converts a validated v1alpha1.Environment.
package model

import (
	"fmt"
	"sort"
	"strings"

	"guardrail.dev/guardrail/compiler/apis/v1alpha1"
)

// Ways a permission set's role reaches the cluster.
const (
	ViaAccessEntry = "accessEntry"
	ViaAWSAuth     = "awsAuth"
)

// Env is one resolved environment.
type Env struct {
	Name       string
	File       string // source file, as given
	AccountID  string
	Region     string
	Partition  string
	Cluster    string
	Mode       string // authentication mode
	ClusterARN string

	PermissionSets []*PermissionSet // declared order
	Teams          []*Team          // declared order
	People         []*Person        // sorted by name
	Namespaces     []Namespace      // sorted by name: spec.namespaces and team namespaces merged
	Guardrails     []*Guardrail     // declared order
	PodIdentities  []PodIdentity    // sorted by namespace, service account

	psByName     map[string]*PermissionSet
	teamByName   map[string]*Team
	personByName map[string]*Person
}

// PermissionSet is an Identity Center permission set and how its role maps into the cluster.
type PermissionSet struct {
	Name          string
	RoleName      string // AWSReservedSSO_<name>_<suffix>
	RoleARN       string // with path, as an access entry needs it
	CanonicalARN  string // without path, as aws-auth and STS show it
	AccessEntry   *AccessEntry
	AWSAuth       *AWSAuth
	Via           string // the mapping EKS uses: ViaAccessEntry, ViaAWSAuth, or "" when none is enabled by the mode
	ShadowedRow   bool   // an aws-auth row exists but the access entry wins
	declaredIndex int
}

// AccessEntry is the STANDARD access entry of a permission set's role.
type AccessEntry struct {
	Username       string // as written ("" = EKS default)
	UsernameTmpl   string // effective template (the EKS default when Username is empty)
	Groups         []string
	AccessPolicies []AccessPolicy
}

// AccessPolicy is one policy association.
type AccessPolicy struct {
	Name       string // AmazonEKSViewPolicy
	ARN        string // arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy
	Cluster    bool   // cluster scope; otherwise Namespaces
	Namespaces []string
}

// AWSAuth is a mapRoles row.
type AWSAuth struct {
	Username string
	Groups   []string
}

// UsernameTemplate and Groups return the mapping EKS applies to the role, or ok=false when no
// mapping is enabled by the authentication mode.
func (ps *PermissionSet) UsernameTemplate() (tmpl string, groups []string, ok bool) {
	switch ps.Via {
	case ViaAccessEntry:
		return ps.AccessEntry.UsernameTmpl, ps.AccessEntry.Groups, true
	case ViaAWSAuth:
		return ps.AWSAuth.Username, ps.AWSAuth.Groups, true
	}
	return "", nil, false
}

// Team is a resolved team.
type Team struct {
	Name           string
	PermissionSets []string
	Members        []string
	Namespaces     []v1alpha1.TeamNamespace
	ClusterRoles   []string
}

// Person is someone who signs in through Identity Center.
type Person struct {
	Name           string
	Teams          []string // sorted
	PermissionSets []string // sorted, unique
}

// Namespace is a namespace of the overlay.
type Namespace struct {
	Name   string
	Labels map[string]string
	Owner  string // owning team, if any
}

// PodIdentity is a Pod Identity association.
type PodIdentity = v1alpha1.PodIdentity

// Identity is one Kubernetes identity a person can present: through one permission set.
type Identity struct {
	Person        string
	PermissionSet string
	SessionARN    string // arn:aws:sts::ACCT:assumed-role/ROLE/SESSION
	Via           string
	Username      string
	Groups        []string // mapped groups, without system:authenticated
	// Shared is true when the username does not depend on the person (no session placeholder):
	// everyone using the permission set presents the same username.
	Shared bool
}

// Guardrail is a resolved deny rule.
type Guardrail struct {
	Name       string
	PolicyName string // guardrail-<name>
	Message    string
	Enforce    bool
	// Usernames are the exact usernames the guardrail stops (sorted, unique).
	Usernames []string
	// UsernamePatterns stop every username a permission set can present: Prefix + session + Suffix.
	UsernamePatterns []Pattern
	Groups           []string
	ClusterRoles     []string
	Operations       []string
	Namespaces       []string
	Kinds            []Kind
	Index            int // position in spec.guardrails
}

// Pattern is a username template with its session placeholder left open.
type Pattern struct{ Prefix, Suffix string }

// Kind is a group/kind pair; Group "" is the core group.
type Kind struct{ Group, Kind string }

// PermissionSet returns the named permission set, or nil.
func (e *Env) PermissionSet(name string) *PermissionSet { return e.psByName[name] }

// Team returns the named team, or nil.
func (e *Env) Team(name string) *Team { return e.teamByName[name] }

// Person returns the named person, or nil.
func (e *Env) Person(name string) *Person { return e.personByName[name] }

// SessionARN is the STS ARN of a role session: the caller ARN EKS authenticates.
func (e *Env) SessionARN(roleName, session string) string {
	return fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", e.Partition, e.AccountID, roleName, session)
}

// Identities returns every identity a person can present, one per permission set they hold
// that the cluster maps, in permission set order.
func (e *Env) Identities(person string) []Identity {
	p := e.personByName[person]
	if p == nil {
		return nil
	}
	var out []Identity
	for _, name := range p.PermissionSets {
		if id, ok := e.IdentityFor(person, name); ok {
			out = append(out, id)
		}
	}
	return out
}

// IdentityFor returns the identity of a session of permission set ps named session, as EKS maps it;
// ok is false when the role is not mapped into the cluster.
func (e *Env) IdentityFor(session, ps string) (Identity, bool) {
	set := e.psByName[ps]
	if set == nil {
		return Identity{}, false
	}
	tmpl, groups, ok := set.UsernameTemplate()
	if !ok {
		return Identity{}, false
	}
	expanded := make([]string, len(groups))
	for i, g := range groups {
		expanded[i] = Expand(g, session, e.AccountID)
	}
	return Identity{
		Person:        session,
		PermissionSet: ps,
		SessionARN:    e.SessionARN(set.RoleName, session),
		Via:           set.Via,
		Username:      Expand(tmpl, session, e.AccountID),
		Groups:        expanded,
		Shared:        !HasSessionPlaceholder(tmpl),
	}, true
}

// Template placeholders.
const (
	SessionName    = "{{SessionName}}"
	SessionNameRaw = "{{SessionNameRaw}}"
	AccountID      = "{{AccountID}}"
)

// Expand fills a username or group template for a role session: {{SessionName}} is the session
// name with every '@' replaced by '-', {{SessionNameRaw}} the session name as is, {{AccountID}}
// the account (aws-iam-authenticator's rules).
func Expand(tmpl, session, account string) string {
	if !strings.Contains(tmpl, "{{") {
		return tmpl
	}
	var b strings.Builder
	for {
		i := strings.Index(tmpl, "{{")
		if i < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		b.WriteString(tmpl[:i])
		rest := tmpl[i:]
		switch {
		case strings.HasPrefix(rest, SessionNameRaw):
			b.WriteString(session)
			tmpl = rest[len(SessionNameRaw):]
		case strings.HasPrefix(rest, SessionName):
			b.WriteString(strings.ReplaceAll(session, "@", "-"))
			tmpl = rest[len(SessionName):]
		case strings.HasPrefix(rest, AccountID):
			b.WriteString(account)
			tmpl = rest[len(AccountID):]
		default:
			b.WriteByte('{')
			tmpl = rest[1:]
		}
	}
}

// HasSessionPlaceholder reports whether a template depends on the session name.
func HasSessionPlaceholder(tmpl string) bool {
	return strings.Contains(tmpl, SessionName) || strings.Contains(tmpl, SessionNameRaw)
}

// PatternOf returns the username pattern of a template: the text before and after its first
// session placeholder, with the rest expanded for account. ok is false for a template without one.
func PatternOf(tmpl, account string) (Pattern, bool) {
	i := strings.Index(tmpl, "{{SessionName")
	if i < 0 || !HasSessionPlaceholder(tmpl) {
		return Pattern{}, false
	}
	rest := tmpl[i:]
	for _, ph := range []string{SessionNameRaw, SessionName} {
		if strings.HasPrefix(rest, ph) {
			rest = rest[len(ph):]
			break
		}
	}
	return Pattern{Prefix: Expand(tmpl[:i], "", account), Suffix: Expand(rest, "", account)}, true
}

// DefaultEntryUsername is the username EKS gives a role's STANDARD access entry when none is set:
// the assumed-role ARN with the role path removed.
func DefaultEntryUsername(partition, account, roleName string) string {
	return fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", partition, account, roleName, SessionName)
}

// SSORolePath is the IAM path of Identity Center roles for a region ("" = no region segment).
func SSORolePath(region string) string {
	if region == "" {
		return "/aws-reserved/sso.amazonaws.com/"
	}
	return "/aws-reserved/sso.amazonaws.com/" + region + "/"
}

// AccessPolicyARN is the ARN of an EKS managed access policy.
func AccessPolicyARN(partition, name string) string {
	return fmt.Sprintf("arn:%s:eks::aws:cluster-access-policy/%s", partition, name)
}

// ParseKind reads "Kind" or "group/Kind".
func ParseKind(s string) Kind {
	if g, k, ok := strings.Cut(s, "/"); ok {
		return Kind{Group: g, Kind: k}
	}
	return Kind{Kind: s}
}

func (k Kind) String() string {
	if k.Group == "" {
		return k.Kind
	}
	return k.Group + "/" + k.Kind
}

func uniqueSorted(in []string) []string {
	m := map[string]bool{}
	var out []string
	for _, s := range in {
		if !m[s] {
			m[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
