package identity

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"

	"guardrail.dev/guardrail/compiler/apis/v1alpha1"
	"guardrail.dev/guardrail/compiler/model"
)

// PrincipalKind says how a principal presents itself to the cluster.
type PrincipalKind string

// Kinds of principal.
const (
	// SSO is an IAM Identity Center user signed in through a permission set.
	SSO PrincipalKind = "SSO"
	// IAMRole is a session of an IAM role.
	IAMRole PrincipalKind = "IAMRole"
	// IAMUser is an IAM user.
	IAMUser PrincipalKind = "IAMUser"
	// Kubernetes is a raw Kubernetes identity (client certificate or impersonation): no EKS mapping.
	Kubernetes PrincipalKind = "Kubernetes"
	// ServiceAccount is a Kubernetes service account token.
	ServiceAccount PrincipalKind = "ServiceAccount"
)

// Well-known Kubernetes groups and the session name the AWS CLI uses.
const (
	GroupAuthenticated   = "system:authenticated"
	GroupServiceAccounts = "system:serviceaccounts"
	// DefaultRoleSessionName is the session name `aws eks get-token --role-arn` uses; an IAMRole
	// principal without a session name gets it.
	DefaultRoleSessionName = "EKSGetTokenAuth"
)

// Extra keys aws-iam-authenticator puts on the identity of an IAM principal.
const (
	ExtraAccessKeyID      = "accessKeyId"
	ExtraARN              = "arn"
	ExtraCanonicalARN     = "canonicalArn"
	ExtraPrincipalID      = "principalId"
	ExtraSessionName      = "sessionName"
	ExtraSigsPrincipalID  = "sigs.k8s.io/aws-iam-authenticator/principalId"
	authenticatorUIDStart = "aws-iam-authenticator"
)

// Principal is who a scenario says "I am".
type Principal struct {
	Kind PrincipalKind

	// SSO: the Identity Center user name (the role session name) and the permission set.
	SSOUser, PermissionSet string
	// IAMRole: the role ARN (with or without its path) and the session name
	// (DefaultRoleSessionName when empty).
	RoleARN, SessionName string
	// IAMUser: the user ARN.
	UserARN string
	// Kubernetes: a raw Kubernetes identity.
	Username string
	Groups   []string
	// ServiceAccount: its namespace and name.
	Namespace, ServiceAccount string
}

// String is the principal as reports show it, for example
// "elon.musk@example.com via permission set Cell_Infra_Admin".
func (p Principal) String() string {
	switch p.Kind {
	case SSO:
		return fmt.Sprintf("%s via permission set %s", p.SSOUser, p.PermissionSet)
	case IAMRole:
		s := p.SessionName
		if s == "" {
			s = DefaultRoleSessionName
		}
		return fmt.Sprintf("IAM role %s (session %s)", p.RoleARN, s)
	case IAMUser:
		return "IAM user " + p.UserARN
	case Kubernetes:
		if len(p.Groups) == 0 {
			return "Kubernetes user " + p.Username
		}
		return fmt.Sprintf("Kubernetes user %s (groups %s)", p.Username, strings.Join(p.Groups, ", "))
	case ServiceAccount:
		return fmt.Sprintf("service account %s/%s", p.Namespace, p.ServiceAccount)
	}
	return fmt.Sprintf("principal of unknown kind %q", string(p.Kind))
}

// Identity is the authenticated Kubernetes identity plus how it was reached.
type Identity struct {
	// Principal is the caller ARN (the STS session ARN for roles) or a description.
	Principal string
	// CanonicalARN is the IAM role ARN without its path, as aws-auth matches it ("" when not IAM).
	CanonicalARN string
	// Via is how EKS mapped the principal: "access entry <principal ARN with path>",
	// "aws-auth mapRoles row for <rolearn>", "Kubernetes user (no EKS mapping)" or
	// "service account token".
	Via string
	// AccessEntryARN is the principal ARN of the access entry that authenticated, "" otherwise;
	// the authorizer looks up access policy associations with it.
	AccessEntryARN string
	// PermissionSet is the Identity Center permission set of the role, "" when none.
	PermissionSet string
	Username      string
	UID           string
	// Groups are the mapped groups followed by system:authenticated (for service accounts:
	// system:serviceaccounts, system:serviceaccounts:<ns>, system:authenticated).
	Groups []string
	Extra  map[string][]string
	// Shadowed is set when an aws-auth row exists for the role but the access entry wins.
	Shadowed string
}

// String renders the identity chain: principal → mapping → username and groups.
func (id *Identity) String() string {
	return fmt.Sprintf("%s → %s → username %q, groups [%s]", id.Principal, id.Via, id.Username, strings.Join(id.Groups, ", "))
}

// UserInfo is the identity as the API server's authorizers and admission see it.
func (id *Identity) UserInfo() user.Info {
	info := &user.DefaultInfo{Name: id.Username, UID: id.UID, Groups: append([]string(nil), id.Groups...)}
	if len(id.Extra) > 0 {
		info.Extra = map[string][]string{}
		for k, v := range id.Extra {
			info.Extra[k] = append([]string(nil), v...)
		}
	}
	return info
}

// AuthError is a denial at authentication, with the reason as EKS would see it. The API server
// answers such a request with 401 Unauthorized.
type AuthError struct {
	Principal string // the caller ARN or a description
	Reason    string
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("authentication failed for %s: %s", e.Principal, e.Reason)
}

// IsAuthError reports whether err is, or wraps, an *AuthError.
func IsAuthError(err error) bool {
	var ae *AuthError
	return errors.As(err, &ae)
}

// sessionNameRE is the rule STS applies to RoleSessionName.
var sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// ValidSessionName reports whether STS accepts s as a role session name: 2 to 64 characters of
// letters, digits and +=,.@_-.
func ValidSessionName(s string) bool { return sessionNameRE.MatchString(s) }

// Authenticate maps a principal to the Kubernetes identity EKS gives it. serviceAccounts holds
// the service accounts that exist, as "namespace/name".
//
// A principal the cluster does not accept gives an *AuthError. A principal that cannot exist at
// all (an unknown permission set, a session name STS refuses, a malformed ARN, a missing field)
// is a mistake in the scenario and gives a plain error.
func Authenticate(env *model.Env, p Principal, serviceAccounts map[string]bool) (*Identity, error) {
	switch p.Kind {
	case SSO:
		return authenticateSSO(env, p)
	case IAMRole:
		return authenticateRole(env, p)
	case IAMUser:
		return authenticateUser(env, p)
	case Kubernetes:
		return authenticateKubernetes(p)
	case ServiceAccount:
		return authenticateServiceAccount(p, serviceAccounts)
	}
	return nil, fmt.Errorf("unknown principal kind %q (want %s, %s, %s, %s or %s)", string(p.Kind), SSO, IAMRole, IAMUser, Kubernetes, ServiceAccount)
}

func authenticateSSO(env *model.Env, p Principal) (*Identity, error) {
	if p.SSOUser == "" {
		return nil, errors.New("an SSO principal needs the Identity Center user name")
	}
	if p.PermissionSet == "" {
		return nil, fmt.Errorf("an SSO principal needs a permission set (known: %s)", knownPermissionSets(env))
	}
	ps := env.PermissionSet(p.PermissionSet)
	if ps == nil {
		return nil, fmt.Errorf("unknown permission set %q (known: %s)", p.PermissionSet, knownPermissionSets(env))
	}
	if !ValidSessionName(p.SSOUser) {
		return nil, invalidSession(p.SSOUser)
	}
	return mapRoleSession(env, ps, p.SSOUser)
}

func authenticateRole(env *model.Env, p Principal) (*Identity, error) {
	r, err := parseRoleARN(p.RoleARN)
	if err != nil {
		return nil, err
	}
	session := p.SessionName
	if session == "" {
		session = DefaultRoleSessionName
	}
	if !ValidSessionName(session) {
		return nil, invalidSession(session)
	}
	// An access entry stores the role's unique ID and STS session ARNs never carry the path;
	// aws-auth compares the path-less ARN case-insensitively. IAM role names are unique in an
	// account whatever their case or path, so the account and the name identify the role.
	for _, ps := range env.PermissionSets {
		if r.partition == env.Partition && r.account == env.AccountID && strings.EqualFold(r.name, ps.RoleName) {
			return mapRoleSession(env, ps, session)
		}
	}
	canonical := fmt.Sprintf("arn:%s:iam::%s:role/%s", r.partition, r.account, r.name)
	return nil, &AuthError{
		Principal: fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", r.partition, r.account, r.name, session),
		Reason:    fmt.Sprintf("no access entry and no aws-auth mapRoles row for %s", canonical),
	}
}

func authenticateUser(env *model.Env, p Principal) (*Identity, error) {
	a := p.UserARN
	rest, ok := strings.CutPrefix(a, "arn:")
	parts := strings.SplitN(rest, ":", 5)
	if !ok || len(parts) != 5 || parts[1] != "iam" || parts[3] == "" || !strings.HasPrefix(parts[4], "user/") || len(parts[4]) == len("user/") {
		return nil, fmt.Errorf("invalid IAM user ARN %q (want arn:%s:iam::%s:user/NAME)", a, env.Partition, env.AccountID)
	}
	return nil, &AuthError{
		Principal: a,
		Reason:    fmt.Sprintf("no access entry or aws-auth mapUsers row for %s (the environment maps no IAM users)", a),
	}
}

func authenticateKubernetes(p Principal) (*Identity, error) {
	if p.Username == "" {
		return nil, errors.New("a Kubernetes principal needs a username")
	}
	return &Identity{
		Principal: "Kubernetes user " + p.Username,
		Via:       "Kubernetes user (no EKS mapping)",
		Username:  p.Username,
		Groups:    withAuthenticated(p.Groups),
	}, nil
}

func authenticateServiceAccount(p Principal, serviceAccounts map[string]bool) (*Identity, error) {
	if p.Namespace == "" || p.ServiceAccount == "" {
		return nil, errors.New("a service account principal needs a namespace and a name")
	}
	key := p.Namespace + "/" + p.ServiceAccount
	username := "system:serviceaccount:" + p.Namespace + ":" + p.ServiceAccount
	if !serviceAccounts[key] {
		return nil, &AuthError{
			Principal: username,
			Reason:    fmt.Sprintf("service account %s does not exist, so no token can be issued for it", key),
		}
	}
	return &Identity{
		Principal: "service account " + key,
		Via:       "service account token",
		Username:  username,
		Groups:    []string{GroupServiceAccounts, GroupServiceAccounts + ":" + p.Namespace, GroupAuthenticated},
	}, nil
}

// mapRoleSession authenticates a session of a permission set's role as EKS does.
func mapRoleSession(env *model.Env, ps *model.PermissionSet, session string) (*Identity, error) {
	sessionARN := env.SessionARN(ps.RoleName, session)
	mapped, ok := env.IdentityFor(session, ps.Name)
	if !ok {
		return nil, &AuthError{Principal: sessionARN, Reason: unmappedReason(env, ps)}
	}
	id := &Identity{
		Principal:     sessionARN,
		CanonicalARN:  ps.CanonicalARN,
		PermissionSet: ps.Name,
		Username:      mapped.Username,
		Groups:        withAuthenticated(mapped.Groups),
	}
	switch ps.Via {
	case model.ViaAccessEntry:
		id.Via = "access entry " + ps.RoleARN
		id.AccessEntryARN = ps.RoleARN
		if ps.ShadowedRow {
			id.Shadowed = fmt.Sprintf("the aws-auth mapRoles row for %s is ignored: the access entry for the same role wins", ps.CanonicalARN)
		}
	case model.ViaAWSAuth:
		id.Via = "aws-auth mapRoles row for " + ps.CanonicalARN
	}
	roleID := RoleID(ps.CanonicalARN)
	id.UID = fmt.Sprintf("%s:%s:%s", authenticatorUIDStart, env.AccountID, roleID)
	id.Extra = map[string][]string{
		ExtraAccessKeyID:     {AccessKeyID(sessionARN)},
		ExtraARN:             {sessionARN},
		ExtraCanonicalARN:    {ps.CanonicalARN},
		ExtraPrincipalID:     {roleID},
		ExtraSessionName:     {session},
		ExtraSigsPrincipalID: {roleID},
	}
	return id, nil
}

func unmappedReason(env *model.Env, ps *model.PermissionSet) string {
	switch {
	case ps.AccessEntry == nil && ps.AWSAuth == nil:
		return fmt.Sprintf("no access entry and no aws-auth mapRoles row for %s", ps.CanonicalARN)
	case ps.AccessEntry == nil: // an aws-auth row, in API mode
		return fmt.Sprintf("the authentication mode %s does not use aws-auth, so the mapRoles row for %s is ignored, and there is no access entry for %s",
			env.Mode, ps.CanonicalARN, ps.RoleARN)
	case ps.AWSAuth == nil: // an access entry, in CONFIG_MAP mode
		return fmt.Sprintf("the authentication mode %s does not use access entries, so the access entry for %s is ignored, and there is no aws-auth mapRoles row for %s",
			env.Mode, ps.RoleARN, ps.CanonicalARN)
	}
	return fmt.Sprintf("the authentication mode %q uses neither access entries nor aws-auth (want %s, %s or %s)",
		env.Mode, v1alpha1.ModeAPI, v1alpha1.ModeAPIAndConfigMap, v1alpha1.ModeConfigMap)
}

// withAuthenticated appends system:authenticated as the API server does, dropping repeats.
func withAuthenticated(groups []string) []string {
	out := make([]string, 0, len(groups)+1)
	seen := map[string]bool{}
	for _, g := range append(append([]string(nil), groups...), GroupAuthenticated) {
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

func invalidSession(s string) error {
	return fmt.Errorf("invalid role session name %q: STS accepts 2 to 64 characters of letters, digits and +=,.@_-", s)
}

func knownPermissionSets(env *model.Env) string {
	if len(env.PermissionSets) == 0 {
		return "none"
	}
	names := make([]string, len(env.PermissionSets))
	for i, ps := range env.PermissionSets {
		names[i] = ps.Name
	}
	return strings.Join(names, ", ")
}

type roleARN struct{ partition, account, name string }

// parseRoleARN reads arn:PARTITION:iam::ACCOUNT:role[/PATH]/NAME.
func parseRoleARN(a string) (roleARN, error) {
	bad := func() (roleARN, error) {
		return roleARN{}, fmt.Errorf("invalid IAM role ARN %q (want arn:aws:iam::ACCOUNT:role/[PATH/]NAME)", a)
	}
	rest, ok := strings.CutPrefix(a, "arn:")
	if !ok {
		return bad()
	}
	parts := strings.SplitN(rest, ":", 5)
	if len(parts) != 5 || parts[0] == "" || parts[1] != "iam" || parts[2] != "" || parts[3] == "" {
		return bad()
	}
	res, ok := strings.CutPrefix(parts[4], "role/")
	if !ok {
		return bad()
	}
	name := res[strings.LastIndex(res, "/")+1:]
	if name == "" {
		return bad()
	}
	return roleARN{partition: parts[0], account: parts[3], name: name}, nil
}
