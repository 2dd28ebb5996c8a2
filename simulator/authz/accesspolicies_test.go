package authz_test

import (
	"context"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/user"
	rbacvalidationhelpers "k8s.io/component-helpers/auth/rbac/validation"
	rbacapi "k8s.io/kubernetes/pkg/apis/rbac"
	rbacv1helpers "k8s.io/kubernetes/pkg/apis/rbac/v1"
	rbacvalidation "k8s.io/kubernetes/pkg/apis/rbac/validation"
	rbacregistryvalidation "k8s.io/kubernetes/pkg/registry/rbac/validation"

	"guardrail.dev/guardrail/simulator/authz"
)

func TestAccessPolicyRules(t *testing.T) {
	want := []string{
		"AmazonEKSAdminPolicy",
		"AmazonEKSAdminViewPolicy",
		"AmazonEKSClusterAdminPolicy",
		"AmazonEKSEditPolicy",
		"AmazonEKSSecretReaderPolicy",
		"AmazonEKSViewPolicy",
	}
	if got := authz.AccessPolicies(); !slices.Equal(got, want) {
		t.Fatalf("AccessPolicies() = %q, want %q", got, want)
	}
	for _, name := range want {
		t.Run(name, func(t *testing.T) {
			rules, ok := authz.AccessPolicyRules(name)
			if !ok || len(rules) == 0 {
				t.Fatalf("AccessPolicyRules(%q) = %d rules, %v", name, len(rules), ok)
			}
			for _, arn := range []string{
				"arn:aws:eks::aws:cluster-access-policy/" + name,
				"arn:aws-cn:eks::aws:cluster-access-policy/" + name,
			} {
				if byARN, ok := authz.AccessPolicyRules(arn); !ok || len(byARN) != len(rules) {
					t.Errorf("AccessPolicyRules(%q) = %d rules, %v", arn, len(byARN), ok)
				}
			}
			// The tables must be rules the API server would accept in a ClusterRole.
			for i, r := range rules {
				var internal rbacapi.PolicyRule
				if err := rbacv1helpers.Convert_v1_PolicyRule_To_rbac_PolicyRule(&r, &internal, nil); err != nil {
					t.Fatal(err)
				}
				if errs := rbacvalidation.ValidatePolicyRule(internal, false, field.NewPath("rules").Index(i)); len(errs) > 0 {
					t.Errorf("rule %d invalid: %v", i, errs.ToAggregate())
				}
			}
			// The result is a copy.
			rules[0].Verbs[0] = "mutated"
			again, _ := authz.AccessPolicyRules(name)
			if again[0].Verbs[0] == "mutated" {
				t.Error("AccessPolicyRules returned the package's own slice")
			}
		})
	}
	for _, unknown := range []string{"", "AmazonEKSAutoNodePolicy", "amazoneksviewpolicy", "arn:aws:iam::aws:policy/AmazonEKSViewPolicy"} {
		if _, ok := authz.AccessPolicyRules(unknown); ok {
			t.Errorf("AccessPolicyRules(%q) ok, want not modelled", unknown)
		}
	}
}

func TestClusterAdminPolicyIncludesAllNonResourceURLs(t *testing.T) {
	rules, _ := authz.AccessPolicyRules("AmazonEKSClusterAdminPolicy")
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}},
		{NonResourceURLs: []string{"*"}, Verbs: []string{"*"}},
	}
	if !slices.EqualFunc(rules, want, func(a, b rbacv1.PolicyRule) bool { return a.String() == b.String() }) {
		t.Errorf("rules = %v, want %v", rules, want)
	}
}

// TestAccessPoliciesAgainstUpstreamRoles checks each policy against the Kubernetes user-facing role
// EKS says it approximates (eks-facts §1.6), with the upstream Covers used for escalation checks, and
// logs what the upstream role grants beyond the policy.
func TestAccessPoliciesAgainstUpstreamRoles(t *testing.T) {
	a, err := authz.New(authz.RBACObjects{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	roles := authz.ClusterRoles(a)
	cases := []struct {
		policy, clusterRole  string
		upstreamCoversPolicy bool
	}{
		{"AmazonEKSClusterAdminPolicy", "cluster-admin", true},
		{"AmazonEKSAdminPolicy", "admin", true},
		{"AmazonEKSEditPolicy", "edit", true},
		{"AmazonEKSViewPolicy", "view", true},
	}
	for _, tc := range cases {
		t.Run(tc.policy, func(t *testing.T) {
			policyRules, _ := authz.AccessPolicyRules(tc.policy)
			upstream := roles[tc.clusterRole].Rules
			covers, missing := rbacvalidationhelpers.Covers(upstream, policyRules)
			if covers != tc.upstreamCoversPolicy {
				t.Errorf("ClusterRole %s covers %s = %v, want %v; not covered: %v", tc.clusterRole, tc.policy, covers, tc.upstreamCoversPolicy, missing)
			}
			if _, extra := rbacvalidationhelpers.Covers(policyRules, upstream); len(extra) > 0 {
				if compact, err := rbacregistryvalidation.CompactRules(extra); err == nil {
					extra = compact
				}
				for _, r := range extra {
					t.Logf("ClusterRole %s grants beyond %s: %s", tc.clusterRole, tc.policy, rbacv1helpers.CompactString(r))
				}
			}
		})
	}
}

// TestAccessPolicyRuleMatching checks that policy rules are matched with RBAC semantics (wildcards,
// subresources) by comparing with a ClusterRole holding the same rules.
func TestAccessPolicyRuleMatching(t *testing.T) {
	for _, policy := range authz.AccessPolicies() {
		t.Run(policy, func(t *testing.T) {
			rules, _ := authz.AccessPolicyRules(policy)
			const arn = "arn:aws:iam::123456789012:role/p"
			a, err := authz.New(authz.RBACObjects{
				ClusterRoles: []rbacv1.ClusterRole{{ObjectMeta: metaName("mirror"), Rules: rules}},
				ClusterRoleBindings: []rbacv1.ClusterRoleBinding{{
					ObjectMeta: metaName("mirror"),
					RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "mirror"},
					Subjects:   []rbacv1.Subject{userSubject("rbac-user")},
				}},
			}, []authz.Association{{PrincipalARN: arn, Policy: policy, ClusterScope: true}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			viaRBAC := &user.DefaultInfo{Name: "rbac-user"}
			viaPolicy := &user.DefaultInfo{Name: "policy-user"}
			for _, verb := range []string{"get", "list", "create", "delete", "impersonate", "escalate"} {
				for _, gr := range [][2]string{{"", "pods"}, {"", "pods/exec"}, {"", "pods/log"}, {"", "secrets"}, {"", "nodes"}, {"apps", "deployments/scale"}, {"apps", "deployments/status"}, {"rbac.authorization.k8s.io", "roles"}, {"example.com", "widgets"}, {"", "serviceaccounts"}, {"extensions", "replicationcontrollers/scale"}} {
					for _, ns := range []string{"", "x"} {
						rr := resource(viaRBAC, verb, gr[0], gr[1], ns)
						pr := via(resource(viaPolicy, verb, gr[0], gr[1], ns), arn)
						if r, p := a.Authorize(ctx, rr).Allowed, a.Authorize(ctx, pr).Allowed; r != p {
							t.Errorf("%s %s/%s in %q: ClusterRole %v, access policy %v", verb, gr[0], gr[1], ns, r, p)
						}
					}
				}
			}
			for _, p := range []string{"/metrics", "/healthz/etcd", "/logs/x"} {
				r, pol := a.Authorize(ctx, path(viaRBAC, "get", p)).Allowed, a.Authorize(ctx, via(path(viaPolicy, "get", p), arn)).Allowed
				if r != pol {
					t.Errorf("get %s: ClusterRole %v, access policy %v", p, r, pol)
				}
			}
		})
	}
}
