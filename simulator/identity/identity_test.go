package identity_test

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"guardrail.dev/guardrail/compiler/load"
	"guardrail.dev/guardrail/compiler/model"
	"guardrail.dev/guardrail/simulator/identity"
)

const (
	acct      = "123456789012"
	ssoPath   = "/aws-reserved/sso.amazonaws.com/ap-northeast-2/"
	devopsARN = "arn:aws:iam::123456789012:role/AWSReservedSSO_DevOps_Admin_1234abcd"
)

// loadEnv loads one environment file's bytes and fails the test on any error diagnostic.
func loadEnv(t *testing.T, path string, data []byte) *model.Env {
	t.Helper()
	loaded, ds := load.Load([]load.Source{{Path: path, Data: data}})
	if errs := ds.Errors(false); len(errs) > 0 || len(loaded) != 1 {
		t.Fatalf("load %s: %v", path, errs)
	}
	return loaded[0].Env
}

func seedEnv(t *testing.T) *model.Env {
	t.Helper()
	data, err := os.ReadFile("../../environments/dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return loadEnv(t, "../../environments/dev.yaml", data)
}

// variantsYAML exercises templates and mappings the seed does not; MODE is replaced per test.
const variantsYAML = `apiVersion: guardrail.dev/v1alpha1
kind: Environment
metadata:
  name: variants
spec:
  aws:
    accountId: "123456789012"
    region: ap-northeast-2
  cluster:
    name: variants
    authenticationMode: MODE
  permissionSets:
  - name: Raw_Admin
    roleSuffix: aaaa1111
    awsAuth:
      username: "raw-{{SessionNameRaw}}"
      groups: ["team-{{SessionName}}", "acct-{{AccountID}}"]
  - name: Both
    roleSuffix: bbbb2222
    accessEntry:
      username: "both:{{SessionName}}"
      groups: [both]
    awsAuth:
      username: "row-{{SessionName}}"
      groups: [system:masters]
  - name: Default_Entry
    roleSuffix: cccc3333
    accessEntry:
      accessPolicies:
      - policy: AmazonEKSClusterAdminPolicy
        scope: {type: cluster}
  - name: Unmapped
    roleSuffix: dddd4444
  teams:
  - name: all
    permissionSets: [Raw_Admin, Both, Default_Entry, Unmapped]
    members: [alice@example.com]
`

// variantsEnv decodes variantsYAML for a mode. Only API_AND_CONFIG_MAP passes validation (load
// refuses a mapping the mode ignores, and a permission set without any); the other modes are
// built from the decoded file unvalidated, to check that Authenticate still refuses what EKS
// would refuse.
func variantsEnv(t *testing.T, mode string) *model.Env {
	t.Helper()
	data := []byte(strings.Replace(variantsYAML, "MODE", mode, 1))
	f, ds := load.Decode("variants.yaml", data)
	if errs := ds.Errors(false); f == nil || len(errs) > 0 {
		t.Fatalf("decode variants.yaml: %v", errs)
	}
	return model.Build("variants.yaml", f.Env)
}

func TestVariantsValid(t *testing.T) {
	// The API_AND_CONFIG_MAP variant, less its unmapped permission set, is a valid file.
	data := strings.Replace(variantsYAML, "MODE", "API_AND_CONFIG_MAP", 1)
	data = strings.Replace(data, "  - name: Unmapped\n    roleSuffix: dddd4444\n", "", 1)
	data = strings.Replace(data, ", Unmapped]", "]", 1)
	loadEnv(t, "variants.yaml", []byte(data))
}

func sso(user, ps string) identity.Principal {
	return identity.Principal{Kind: identity.SSO, SSOUser: user, PermissionSet: ps}
}

func role(arn, session string) identity.Principal {
	return identity.Principal{Kind: identity.IAMRole, RoleARN: arn, SessionName: session}
}

// want is the part of an Identity a case checks; empty fields are checked to be empty too.
type want struct {
	principal, canonical, via, entry, ps, username string
	groups                                         []string
	shadowed                                       bool
}

func check(t *testing.T, got *identity.Identity, w want) {
	t.Helper()
	if got.Principal != w.principal {
		t.Errorf("Principal = %q, want %q", got.Principal, w.principal)
	}
	if got.CanonicalARN != w.canonical {
		t.Errorf("CanonicalARN = %q, want %q", got.CanonicalARN, w.canonical)
	}
	if got.Via != w.via {
		t.Errorf("Via = %q, want %q", got.Via, w.via)
	}
	if got.AccessEntryARN != w.entry {
		t.Errorf("AccessEntryARN = %q, want %q", got.AccessEntryARN, w.entry)
	}
	if got.PermissionSet != w.ps {
		t.Errorf("PermissionSet = %q, want %q", got.PermissionSet, w.ps)
	}
	if got.Username != w.username {
		t.Errorf("Username = %q, want %q", got.Username, w.username)
	}
	if !reflect.DeepEqual(got.Groups, w.groups) {
		t.Errorf("Groups = %q, want %q", got.Groups, w.groups)
	}
	if (got.Shadowed != "") != w.shadowed {
		t.Errorf("Shadowed = %q, want set: %v", got.Shadowed, w.shadowed)
	}
}

func TestAuthenticateAllowed(t *testing.T) {
	seed := seedEnv(t)
	both := variantsEnv(t, "API_AND_CONFIG_MAP")
	api := variantsEnv(t, "API")
	cm := variantsEnv(t, "CONFIG_MAP")
	sas := map[string]bool{"loki/loki": true, "loki/default": true}

	tests := []struct {
		name string
		env  *model.Env
		p    identity.Principal
		want want
	}{
		{
			name: "seed john via DevOps_Admin is mapped by aws-auth",
			env:  seed,
			p:    sso("john.doe@example.com", "DevOps_Admin"),
			want: want{
				principal: "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_DevOps_Admin_1234abcd/john.doe@example.com",
				canonical: devopsARN,
				via:       "aws-auth mapRoles row for " + devopsARN,
				ps:        "DevOps_Admin",
				username:  "devops-john.doe-example.com",
				groups:    []string{"system:masters", "system:authenticated"},
			},
		},
		{
			name: "seed elon via Cell_Infra_Admin",
			env:  seed,
			p:    sso("elon.musk@example.com", "Cell_Infra_Admin"),
			want: want{
				principal: "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Cell_Infra_Admin_5678abcd/elon.musk@example.com",
				canonical: "arn:aws:iam::123456789012:role/AWSReservedSSO_Cell_Infra_Admin_5678abcd",
				via:       "aws-auth mapRoles row for arn:aws:iam::123456789012:role/AWSReservedSSO_Cell_Infra_Admin_5678abcd",
				ps:        "Cell_Infra_Admin",
				username:  "cell-infra-elon.musk-example.com",
				groups:    []string{"system:masters", "system:authenticated"},
			},
		},
		{
			name: "seed alice via Developer is mapped by the access entry with the SSO path",
			env:  seed,
			p:    sso("alice@example.com", "Developer"),
			want: want{
				principal: "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Developer_0123456789abcdef/alice@example.com",
				canonical: "arn:aws:iam::123456789012:role/AWSReservedSSO_Developer_0123456789abcdef",
				via:       "access entry arn:aws:iam::123456789012:role" + ssoPath + "AWSReservedSSO_Developer_0123456789abcdef",
				entry:     "arn:aws:iam::123456789012:role" + ssoPath + "AWSReservedSSO_Developer_0123456789abcdef",
				ps:        "Developer",
				username:  "dev:alice-example.com",
				groups:    []string{"developers", "system:authenticated"},
			},
		},
		{
			name: "a person outside the team may still use the permission set",
			env:  seed,
			p:    sso("bob@example.com", "Developer"),
			want: want{
				principal: "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Developer_0123456789abcdef/bob@example.com",
				canonical: "arn:aws:iam::123456789012:role/AWSReservedSSO_Developer_0123456789abcdef",
				via:       "access entry arn:aws:iam::123456789012:role" + ssoPath + "AWSReservedSSO_Developer_0123456789abcdef",
				entry:     "arn:aws:iam::123456789012:role" + ssoPath + "AWSReservedSSO_Developer_0123456789abcdef",
				ps:        "Developer",
				username:  "dev:bob-example.com",
				groups:    []string{"developers", "system:authenticated"},
			},
		},
		{
			name: "SessionNameRaw keeps the @, SessionName in a group does not, AccountID is expanded",
			env:  both,
			p:    sso("alice@example.com", "Raw_Admin"),
			want: want{
				principal: "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Raw_Admin_aaaa1111/alice@example.com",
				canonical: "arn:aws:iam::123456789012:role/AWSReservedSSO_Raw_Admin_aaaa1111",
				via:       "aws-auth mapRoles row for arn:aws:iam::123456789012:role/AWSReservedSSO_Raw_Admin_aaaa1111",
				ps:        "Raw_Admin",
				username:  "raw-alice@example.com",
				groups:    []string{"team-alice-example.com", "acct-123456789012", "system:authenticated"},
			},
		},
		{
			name: "access entry wins over the aws-auth row and says so",
			env:  both,
			p:    sso("alice@example.com", "Both"),
			want: want{
				principal: "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Both_bbbb2222/alice@example.com",
				canonical: "arn:aws:iam::123456789012:role/AWSReservedSSO_Both_bbbb2222",
				via:       "access entry arn:aws:iam::123456789012:role" + ssoPath + "AWSReservedSSO_Both_bbbb2222",
				entry:     "arn:aws:iam::123456789012:role" + ssoPath + "AWSReservedSSO_Both_bbbb2222",
				ps:        "Both",
				username:  "both:alice-example.com",
				groups:    []string{"both", "system:authenticated"},
				shadowed:  true,
			},
		},
		{
			name: "access entry wins in API mode, no row to shadow",
			env:  api,
			p:    sso("alice@example.com", "Both"),
			want: want{
				principal: "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Both_bbbb2222/alice@example.com",
				canonical: "arn:aws:iam::123456789012:role/AWSReservedSSO_Both_bbbb2222",
				via:       "access entry arn:aws:iam::123456789012:role" + ssoPath + "AWSReservedSSO_Both_bbbb2222",
				entry:     "arn:aws:iam::123456789012:role" + ssoPath + "AWSReservedSSO_Both_bbbb2222",
				ps:        "Both",
				username:  "both:alice-example.com",
				groups:    []string{"both", "system:authenticated"},
			},
		},
		{
			name: "CONFIG_MAP mode uses the aws-auth row",
			env:  cm,
			p:    sso("alice@example.com", "Both"),
			want: want{
				principal: "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Both_bbbb2222/alice@example.com",
				canonical: "arn:aws:iam::123456789012:role/AWSReservedSSO_Both_bbbb2222",
				via:       "aws-auth mapRoles row for arn:aws:iam::123456789012:role/AWSReservedSSO_Both_bbbb2222",
				ps:        "Both",
				username:  "row-alice-example.com",
				groups:    []string{"system:masters", "system:authenticated"},
			},
		},
		{
			name: "access entry without username gets the path-less assumed-role ARN and only system:authenticated",
			env:  both,
			p:    sso("alice@example.com", "Default_Entry"),
			want: want{
				principal: "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Default_Entry_cccc3333/alice@example.com",
				canonical: "arn:aws:iam::123456789012:role/AWSReservedSSO_Default_Entry_cccc3333",
				via:       "access entry arn:aws:iam::123456789012:role" + ssoPath + "AWSReservedSSO_Default_Entry_cccc3333",
				entry:     "arn:aws:iam::123456789012:role" + ssoPath + "AWSReservedSSO_Default_Entry_cccc3333",
				ps:        "Default_Entry",
				username:  "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Default_Entry_cccc3333/alice-example.com",
				groups:    []string{"system:authenticated"},
			},
		},
		{
			name: "IAM role without path matches the aws-auth row",
			env:  seed,
			p:    role(devopsARN, "ops"),
			want: want{
				principal: "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_DevOps_Admin_1234abcd/ops",
				canonical: devopsARN,
				via:       "aws-auth mapRoles row for " + devopsARN,
				ps:        "DevOps_Admin",
				username:  "devops-ops",
				groups:    []string{"system:masters", "system:authenticated"},
			},
		},
		{
			name: "IAM role with its path and in another case still matches; the session ARN has neither",
			env:  seed,
			p:    role("arn:aws:iam::123456789012:role"+ssoPath+"awsreservedsso_devops_admin_1234ABCD", "john.doe@example.com"),
			want: want{
				principal: "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_DevOps_Admin_1234abcd/john.doe@example.com",
				canonical: devopsARN,
				via:       "aws-auth mapRoles row for " + devopsARN,
				ps:        "DevOps_Admin",
				username:  "devops-john.doe-example.com",
				groups:    []string{"system:masters", "system:authenticated"},
			},
		},
		{
			name: "IAM role without its path matches the access entry",
			env:  seed,
			p:    role("arn:aws:iam::123456789012:role/AWSReservedSSO_Developer_0123456789abcdef", ""),
			want: want{
				principal: "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Developer_0123456789abcdef/EKSGetTokenAuth",
				canonical: "arn:aws:iam::123456789012:role/AWSReservedSSO_Developer_0123456789abcdef",
				via:       "access entry arn:aws:iam::123456789012:role" + ssoPath + "AWSReservedSSO_Developer_0123456789abcdef",
				entry:     "arn:aws:iam::123456789012:role" + ssoPath + "AWSReservedSSO_Developer_0123456789abcdef",
				ps:        "Developer",
				username:  "dev:EKSGetTokenAuth",
				groups:    []string{"developers", "system:authenticated"},
			},
		},
		{
			name: "raw Kubernetes user gets system:authenticated once",
			env:  seed,
			p:    identity.Principal{Kind: identity.Kubernetes, Username: "alice", Groups: []string{"ops", "system:authenticated", "ops"}},
			want: want{
				principal: "Kubernetes user alice",
				via:       "Kubernetes user (no EKS mapping)",
				username:  "alice",
				groups:    []string{"ops", "system:authenticated"},
			},
		},
		{
			name: "raw Kubernetes user without groups",
			env:  seed,
			p:    identity.Principal{Kind: identity.Kubernetes, Username: "kubernetes-admin"},
			want: want{
				principal: "Kubernetes user kubernetes-admin",
				via:       "Kubernetes user (no EKS mapping)",
				username:  "kubernetes-admin",
				groups:    []string{"system:authenticated"},
			},
		},
		{
			name: "service account loki/loki",
			env:  seed,
			p:    identity.Principal{Kind: identity.ServiceAccount, Namespace: "loki", ServiceAccount: "loki"},
			want: want{
				principal: "service account loki/loki",
				via:       "service account token",
				username:  "system:serviceaccount:loki:loki",
				groups:    []string{"system:serviceaccounts", "system:serviceaccounts:loki", "system:authenticated"},
			},
		},
		{
			name: "service account loki/default",
			env:  seed,
			p:    identity.Principal{Kind: identity.ServiceAccount, Namespace: "loki", ServiceAccount: "default"},
			want: want{
				principal: "service account loki/default",
				via:       "service account token",
				username:  "system:serviceaccount:loki:default",
				groups:    []string{"system:serviceaccounts", "system:serviceaccounts:loki", "system:authenticated"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := identity.Authenticate(tc.env, tc.p, sas)
			if err != nil {
				t.Fatalf("Authenticate(%s): %v", tc.p, err)
			}
			check(t, got, tc.want)
		})
	}
}

func TestAuthenticateDenied(t *testing.T) {
	seed := seedEnv(t)
	api := variantsEnv(t, "API")
	cm := variantsEnv(t, "CONFIG_MAP")
	sas := map[string]bool{"loki/loki": true, "loki/default": true}

	tests := []struct {
		name          string
		env           *model.Env
		p             identity.Principal
		wantPrincipal string
		wantReason    []string // substrings
	}{
		{
			name:          "IAM role that is not mapped",
			env:           seed,
			p:             role("arn:aws:iam::123456789012:role/loki", "s1"),
			wantPrincipal: "arn:aws:sts::123456789012:assumed-role/loki/s1",
			wantReason:    []string{"no access entry and no aws-auth mapRoles row for arn:aws:iam::123456789012:role/loki"},
		},
		{
			name:          "role of the same name in another account",
			env:           seed,
			p:             role("arn:aws:iam::999999999999:role/AWSReservedSSO_DevOps_Admin_1234abcd", "s1"),
			wantPrincipal: "arn:aws:sts::999999999999:assumed-role/AWSReservedSSO_DevOps_Admin_1234abcd/s1",
			wantReason:    []string{"arn:aws:iam::999999999999:role/AWSReservedSSO_DevOps_Admin_1234abcd"},
		},
		{
			name:          "IAM user",
			env:           seed,
			p:             identity.Principal{Kind: identity.IAMUser, UserARN: "arn:aws:iam::123456789012:user/admin"},
			wantPrincipal: "arn:aws:iam::123456789012:user/admin",
			wantReason:    []string{"no access entry or aws-auth mapUsers row for arn:aws:iam::123456789012:user/admin"},
		},
		{
			name:          "service account that does not exist",
			env:           seed,
			p:             identity.Principal{Kind: identity.ServiceAccount, Namespace: "loki", ServiceAccount: "ghost"},
			wantPrincipal: "system:serviceaccount:loki:ghost",
			wantReason:    []string{"loki/ghost does not exist"},
		},
		{
			name:          "permission set without any mapping",
			env:           api,
			p:             sso("alice@example.com", "Unmapped"),
			wantPrincipal: "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Unmapped_dddd4444/alice@example.com",
			wantReason:    []string{"no access entry and no aws-auth mapRoles row for arn:aws:iam::123456789012:role/AWSReservedSSO_Unmapped_dddd4444"},
		},
		{
			name:          "API mode does not use aws-auth",
			env:           api,
			p:             sso("alice@example.com", "Raw_Admin"),
			wantPrincipal: "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Raw_Admin_aaaa1111/alice@example.com",
			wantReason:    []string{"authentication mode API does not use aws-auth", "arn:aws:iam::123456789012:role/AWSReservedSSO_Raw_Admin_aaaa1111"},
		},
		{
			name:          "CONFIG_MAP mode does not use access entries",
			env:           cm,
			p:             sso("alice@example.com", "Default_Entry"),
			wantPrincipal: "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Default_Entry_cccc3333/alice@example.com",
			wantReason:    []string{"authentication mode CONFIG_MAP does not use access entries", "role" + ssoPath + "AWSReservedSSO_Default_Entry_cccc3333"},
		},
		{
			name:          "CONFIG_MAP mode, role found by IAM role ARN",
			env:           cm,
			p:             role("arn:aws:iam::123456789012:role/AWSReservedSSO_Default_Entry_cccc3333", "x1"),
			wantPrincipal: "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Default_Entry_cccc3333/x1",
			wantReason:    []string{"does not use access entries"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := identity.Authenticate(tc.env, tc.p, sas)
			if got != nil {
				t.Fatalf("Authenticate(%s) = %+v, want an AuthError", tc.p, got)
			}
			var ae *identity.AuthError
			if !errors.As(err, &ae) || !identity.IsAuthError(err) {
				t.Fatalf("Authenticate(%s) error = %v (%T), want *AuthError", tc.p, err, err)
			}
			if ae.Principal != tc.wantPrincipal {
				t.Errorf("Principal = %q, want %q", ae.Principal, tc.wantPrincipal)
			}
			for _, s := range tc.wantReason {
				if !strings.Contains(ae.Reason, s) {
					t.Errorf("Reason = %q, want it to contain %q", ae.Reason, s)
				}
			}
			if !strings.Contains(err.Error(), tc.wantPrincipal) {
				t.Errorf("Error() = %q, want the principal in it", err.Error())
			}
		})
	}
}

func TestAuthenticateUsageErrors(t *testing.T) {
	seed := seedEnv(t)
	tests := []struct {
		name string
		p    identity.Principal
		want []string
	}{
		{"unknown permission set names the known ones", sso("john.doe@example.com", "Nope"),
			[]string{`"Nope"`, "DevOps_Admin, Cell_Infra_Admin, Developer"}},
		{"session name with a space", sso("john doe", "DevOps_Admin"), []string{`"john doe"`, "2 to 64"}},
		{"session name of one character", sso("j", "DevOps_Admin"), []string{`"j"`}},
		{"session name of 65 characters", sso(strings.Repeat("a", 65), "DevOps_Admin"), []string{"invalid role session name"}},
		{"session name with a slash", role(devopsARN, "a/b"), []string{`"a/b"`}},
		{"missing SSO user", sso("", "DevOps_Admin"), []string{"user name"}},
		{"not a role ARN", role("arn:aws:iam::123456789012:user/admin", "s1"), []string{"invalid IAM role ARN"}},
		{"not an ARN", role("AWSReservedSSO_DevOps_Admin_1234abcd", "s1"), []string{"invalid IAM role ARN"}},
		{"bad IAM user ARN", identity.Principal{Kind: identity.IAMUser, UserARN: "admin"}, []string{"invalid IAM user ARN"}},
		{"Kubernetes user without name", identity.Principal{Kind: identity.Kubernetes}, []string{"username"}},
		{"service account without name", identity.Principal{Kind: identity.ServiceAccount, Namespace: "loki"}, []string{"namespace and a name"}},
		{"unknown kind", identity.Principal{Kind: "Robot"}, []string{`"Robot"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := identity.Authenticate(seed, tc.p, nil)
			if err == nil {
				t.Fatalf("Authenticate(%s) = %+v, want an error", tc.p, got)
			}
			if identity.IsAuthError(err) {
				t.Fatalf("Authenticate(%s) = AuthError %v, want a usage error", tc.p, err)
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestValidSessionName(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"john.doe@example.com", true},
		{"a_b+c=d,e.f@g-h", true},
		{"ab", true},
		{strings.Repeat("x", 64), true},
		{"a", false},
		{strings.Repeat("x", 65), false},
		{"a b", false},
		{"a:b", false},
		{"é@example.com", false},
	}
	for _, tc := range tests {
		if got := identity.ValidSessionName(tc.s); got != tc.want {
			t.Errorf("ValidSessionName(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

// simulated recomputes, from the formula documented on RoleID and AccessKeyID, the stand-in IDs.
func simulated(prefix, input string, n int) string {
	sum := sha256.Sum256([]byte(input))
	return prefix + base32.StdEncoding.EncodeToString(sum[:])[:n]
}

func TestSimulatedIDs(t *testing.T) {
	roleKey := "arn:aws:iam::123456789012:role/awsreservedsso_devops_admin_1234abcd"
	wantRole := simulated("AROA", roleKey, 17)
	for _, arn := range []string{
		devopsARN,
		"arn:aws:iam::123456789012:role" + ssoPath + "AWSReservedSSO_DevOps_Admin_1234abcd",
		"ARN:AWS:IAM::123456789012:ROLE/AWSRESERVEDSSO_DEVOPS_ADMIN_1234ABCD",
	} {
		if got := identity.RoleID(arn); got != wantRole {
			t.Errorf("RoleID(%q) = %q, want %q", arn, got, wantRole)
		}
	}
	if len(wantRole) != 21 {
		t.Errorf("role ID %q has %d characters, want 21", wantRole, len(wantRole))
	}
	if identity.RoleID("arn:aws:iam::123456789012:role/loki") == wantRole {
		t.Error("two roles share a RoleID")
	}
	session := "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_DevOps_Admin_1234abcd/john.doe@example.com"
	key := identity.AccessKeyID(session)
	if want := simulated("ASIA", session, 16); key != want || len(key) != 20 {
		t.Errorf("AccessKeyID = %q, want %q (20 characters)", key, want)
	}
}

func TestIdentityExtraAndUID(t *testing.T) {
	env := seedEnv(t)
	id, err := identity.Authenticate(env, sso("alice@example.com", "Developer"), nil)
	if err != nil {
		t.Fatal(err)
	}
	canonical := "arn:aws:iam::123456789012:role/AWSReservedSSO_Developer_0123456789abcdef"
	session := "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Developer_0123456789abcdef/alice@example.com"
	roleID := simulated("AROA", strings.ToLower(canonical), 17)
	if want := "aws-iam-authenticator:123456789012:" + roleID; id.UID != want {
		t.Errorf("UID = %q, want %q", id.UID, want)
	}
	wantExtra := map[string][]string{
		"accessKeyId":  {simulated("ASIA", session, 16)},
		"arn":          {session},
		"canonicalArn": {canonical},
		"principalId":  {roleID},
		"sessionName":  {"alice@example.com"},
		"sigs.k8s.io/aws-iam-authenticator/principalId": {roleID},
	}
	if !reflect.DeepEqual(id.Extra, wantExtra) {
		t.Errorf("Extra = %v, want %v", id.Extra, wantExtra)
	}
	info := id.UserInfo()
	if info.GetName() != "dev:alice-example.com" || info.GetUID() != id.UID ||
		!reflect.DeepEqual(info.GetGroups(), []string{"developers", "system:authenticated"}) ||
		!reflect.DeepEqual(info.GetExtra(), wantExtra) {
		t.Errorf("UserInfo() = %+v", info)
	}
	if want := session + " → access entry arn:aws:iam::123456789012:role" + ssoPath +
		`AWSReservedSSO_Developer_0123456789abcdef → username "dev:alice-example.com", groups [developers, system:authenticated]`; id.String() != want {
		t.Errorf("String() =\n%s\nwant\n%s", id.String(), want)
	}
}

func TestPrincipalString(t *testing.T) {
	tests := []struct {
		p    identity.Principal
		want string
	}{
		{sso("elon.musk@example.com", "Cell_Infra_Admin"), "elon.musk@example.com via permission set Cell_Infra_Admin"},
		{role(devopsARN, "ops"), "IAM role " + devopsARN + " (session ops)"},
		{role(devopsARN, ""), "IAM role " + devopsARN + " (session EKSGetTokenAuth)"},
		{identity.Principal{Kind: identity.IAMUser, UserARN: "arn:aws:iam::123456789012:user/admin"}, "IAM user arn:aws:iam::123456789012:user/admin"},
		{identity.Principal{Kind: identity.Kubernetes, Username: "alice"}, "Kubernetes user alice"},
		{identity.Principal{Kind: identity.Kubernetes, Username: "alice", Groups: []string{"a", "b"}}, "Kubernetes user alice (groups a, b)"},
		{identity.Principal{Kind: identity.ServiceAccount, Namespace: "loki", ServiceAccount: "loki"}, "service account loki/loki"},
	}
	for _, tc := range tests {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestSelfSubjectReview(t *testing.T) {
	env := seedEnv(t)
	session := "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_DevOps_Admin_1234abcd/john.doe@example.com"
	roleID := simulated("AROA", "arn:aws:iam::123456789012:role/awsreservedsso_devops_admin_1234abcd", 17)
	keyID := simulated("ASIA", session, 16)

	tests := []struct {
		name string
		p    identity.Principal
		want string
	}{
		{
			name: "john via DevOps_Admin",
			p:    sso("john.doe@example.com", "DevOps_Admin"),
			want: `apiVersion: authentication.k8s.io/v1
kind: SelfSubjectReview
metadata: {}
status:
  userInfo:
    extra:
      accessKeyId:
      - ` + keyID + `
      arn:
      - arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_DevOps_Admin_1234abcd/john.doe@example.com
      canonicalArn:
      - arn:aws:iam::123456789012:role/AWSReservedSSO_DevOps_Admin_1234abcd
      principalId:
      - ` + roleID + `
      sessionName:
      - john.doe@example.com
      sigs.k8s.io/aws-iam-authenticator/principalId:
      - ` + roleID + `
    groups:
    - system:masters
    - system:authenticated
    uid: aws-iam-authenticator:123456789012:` + roleID + `
    username: devops-john.doe-example.com
`,
		},
		{
			name: "service account",
			p:    identity.Principal{Kind: identity.ServiceAccount, Namespace: "loki", ServiceAccount: "loki"},
			want: `apiVersion: authentication.k8s.io/v1
kind: SelfSubjectReview
metadata: {}
status:
  userInfo:
    groups:
    - system:serviceaccounts
    - system:serviceaccounts:loki
    - system:authenticated
    username: system:serviceaccount:loki:loki
`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := identity.Authenticate(env, tc.p, map[string]bool{"loki/loki": true})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ { // map order must not leak into the bytes
				got, err := identity.SelfSubjectReview(id)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tc.want {
					t.Fatalf("SelfSubjectReview =\n%s\nwant\n%s", got, tc.want)
				}
			}
		})
	}
	if _, err := identity.SelfSubjectReview(nil); err == nil {
		t.Error("SelfSubjectReview(nil) succeeded")
	}
}
