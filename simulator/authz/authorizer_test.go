package authz_test

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"guardrail.dev/guardrail/simulator/authz"
)

const (
	devARN     = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/ap-northeast-2/AWSReservedSSO_Developer_0123456789abcdef"
	adminARN   = "arn:aws:iam::123456789012:role/platform-admin"
	teamARN    = "arn:aws:iam::123456789012:role/team-a-admin"
	readerARN  = "arn:aws:iam::123456789012:role/auditor"
	victorARN  = "arn:aws:iam::123456789012:role/victor"
	nobodyARN  = "arn:aws:iam::123456789012:role/no-policies"
	paymentsNS = "app-payments"
)

// authenticated returns a user as the API server's authenticator hands it to the authorizer:
// system:authenticated is always among the groups.
func authenticated(name string, groups ...string) user.Info {
	return &user.DefaultInfo{Name: name, Groups: append(groups, user.AllAuthenticated)}
}

var (
	masters   = authenticated("cell-infra-elon.musk-example.com", user.SystemPrivilegedGroup)
	alice     = authenticated("dev:alice", "payments")
	victor    = authenticated("victor")
	adam      = authenticated("adam")
	rita      = authenticated("rita")
	paul      = authenticated("paul")
	erin      = authenticated("erin")
	mona      = authenticated("mona")
	gus       = authenticated("gus")
	nick      = authenticated("nick")
	bob       = authenticated("bob")
	carol     = authenticated("dev:carol", "developers")
	anonymous = &user.DefaultInfo{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}
	deployer  = authenticated("system:serviceaccount:app-payments:deployer", "system:serviceaccounts", "system:serviceaccounts:app-payments")
	signer    = authenticated("system:serviceaccount:kube-system:bootstrap-signer", "system:serviceaccounts", "system:serviceaccounts:kube-system")
	depCtrl   = authenticated("system:serviceaccount:kube-system:deployment-controller", "system:serviceaccounts", "system:serviceaccounts:kube-system")
)

func roleBinding(ns, name, roleKind, roleName string, subjects ...rbacv1.Subject) rbacv1.RoleBinding {
	return rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: roleKind, Name: roleName},
		Subjects:   subjects,
	}
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

func role(ns, name string, rules ...rbacv1.PolicyRule) rbacv1.Role {
	return rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules}
}

// fixture is a cluster as the compiler might render it.
func fixture() (authz.RBACObjects, []authz.Association) {
	objs := authz.RBACObjects{
		Roles: []rbacv1.Role{
			role(paymentsNS, "config-reader", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app-config"}, Verbs: []string{"get"}}),
			role(paymentsNS, "pod-reader", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}),
			role(paymentsNS, "pod-exec",
				rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}},
				rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create"}}),
			role(paymentsNS, "named-creator", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"x"}, Verbs: []string{"create"}}),
		},
		ClusterRoles: []rbacv1.ClusterRole{
			{
				// Aggregated into the bootstrap view role, hence into edit and admin as well.
				ObjectMeta: metav1.ObjectMeta{Name: "widget-viewer", Labels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
				Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"example.com"}, Resources: []string{"widgets"}, Verbs: []string{"get", "list", "watch"}}},
			},
			{
				ObjectMeta: metav1.ObjectMeta{Name: "monitoring"},
				AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
					{MatchLabels: map[string]string{"example.com/aggregate-to-monitoring": "true"}},
				}},
			},
			{
				ObjectMeta: metav1.ObjectMeta{Name: "monitoring-nodes", Labels: map[string]string{"example.com/aggregate-to-monitoring": "true"}},
				Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list"}}},
			},
			{
				ObjectMeta: metav1.ObjectMeta{Name: "monitoring-metrics", Labels: map[string]string{"example.com/aggregate-to-monitoring": "true"}},
				Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
			},
		},
		RoleBindings: []rbacv1.RoleBinding{
			roleBinding(paymentsNS, "payments-edit", "ClusterRole", "edit", rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "payments"}),
			roleBinding(paymentsNS, "victor-view", "ClusterRole", "view", userSubject("victor")),
			roleBinding(paymentsNS, "adam-admin", "ClusterRole", "admin", userSubject("adam")),
			roleBinding(paymentsNS, "rita-config", "Role", "config-reader", userSubject("rita")),
			roleBinding(paymentsNS, "paul-pods", "Role", "pod-reader", userSubject("paul")),
			roleBinding(paymentsNS, "erin-exec", "Role", "pod-exec", userSubject("erin")),
			roleBinding(paymentsNS, "nick-create", "Role", "named-creator", userSubject("nick")),
			roleBinding(paymentsNS, "ghost", "ClusterRole", "does-not-exist", userSubject("gus")),
			// Subject namespace left empty: it defaults to the binding's namespace.
			roleBinding(paymentsNS, "deployer", "ClusterRole", "edit", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "deployer"}),
		},
		ClusterRoleBindings: []rbacv1.ClusterRoleBinding{{
			ObjectMeta: metav1.ObjectMeta{Name: "monitoring"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "monitoring"},
			Subjects:   []rbacv1.Subject{userSubject("mona")},
		}},
	}
	associations := []authz.Association{
		{PrincipalARN: devARN, Policy: "AmazonEKSViewPolicy", Namespaces: []string{"app-*"}},
		{PrincipalARN: adminARN, Policy: "AmazonEKSClusterAdminPolicy", ClusterScope: true},
		{PrincipalARN: teamARN, Policy: "AmazonEKSAdminPolicy", Namespaces: []string{"team-a"}},
		{PrincipalARN: readerARN, Policy: "AmazonEKSAdminViewPolicy", ClusterScope: true},
		{PrincipalARN: victorARN, Policy: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSSecretReaderPolicy", Namespaces: []string{paymentsNS}},
	}
	return objs, associations
}

func newFixture(t testing.TB) *authz.Authorizer {
	t.Helper()
	objs, associations := fixture()
	a, err := authz.New(objs, associations)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func resource(u user.Info, verb, group, res, ns string) authz.Request {
	sub := ""
	if i := strings.Index(res, "/"); i >= 0 {
		res, sub = res[:i], res[i+1:]
	}
	return authz.Request{User: u, Verb: verb, APIGroup: group, Resource: res, Subresource: sub, Namespace: ns}
}

func named(r authz.Request, name string) authz.Request { r.Name = name; return r }

func via(r authz.Request, arn string) authz.Request { r.PrincipalARN = arn; return r }

func path(u user.Info, verb, p string) authz.Request {
	return authz.Request{User: u, Verb: verb, NonResourcePath: p}
}

type want struct {
	allowed bool
	layer   string
	binding string
	role    string
	policy  string
	scope   string
	reason  []string // substrings of Reason
	checked []string // substrings of some Checked entry
}

func TestAuthorize(t *testing.T) {
	a := newFixture(t)
	cases := []struct {
		name string
		req  authz.Request
		want want
	}{
		// system:masters
		{"masters delete nodes", resource(masters, "delete", "", "nodes", ""), want{allowed: true, layer: authz.LayerSystemMasters, reason: []string{"system:masters"}}},
		{"masters read secrets anywhere", named(resource(masters, "get", "", "secrets", "kube-system"), "x"), want{allowed: true, layer: authz.LayerSystemMasters}},
		{"masters non-resource URL", path(masters, "get", "/metrics"), want{allowed: true, layer: authz.LayerSystemMasters}},
		{"masters unknown verb on a CRD", resource(masters, "escalate", "example.com", "widgets", "x"), want{allowed: true, layer: authz.LayerSystemMasters}},

		// RoleBinding → aggregated ClusterRole edit
		{"edit creates configmaps in its namespace", resource(alice, "create", "", "configmaps", paymentsNS), want{
			allowed: true, layer: authz.LayerRBAC,
			binding: "RoleBinding app-payments/payments-edit", role: "ClusterRole edit",
			reason: []string{`RoleBinding app-payments/payments-edit (Group "payments") → ClusterRole edit: rule {APIGroups:[""], Resources:[`, `"configmaps"`, `aggregated from ClusterRole system:aggregate-to-edit`},
		}},
		{"edit cannot create configmaps in another namespace", resource(alice, "create", "", "configmaps", "team-b"), want{
			reason:  []string{`configmaps is forbidden: User "dev:alice" cannot create resource "configmaps" in API group "" in the namespace "team-b"`},
			checked: []string{`RBAC ClusterRoleBinding system:basic-user (Group "system:authenticated") → ClusterRole system:basic-user: no rule matches`},
		}},
		{"edit cannot create roles", resource(alice, "create", "rbac.authorization.k8s.io", "roles", paymentsNS), want{
			reason:  []string{`cannot create resource "roles" in API group "rbac.authorization.k8s.io" in the namespace "app-payments"`},
			checked: []string{`RBAC RoleBinding app-payments/payments-edit (Group "payments") → ClusterRole edit: no rule matches`},
		}},
		{"edit cannot create rolebindings", resource(alice, "create", "rbac.authorization.k8s.io", "rolebindings", paymentsNS), want{}},
		{"edit reads secrets", named(resource(alice, "get", "", "secrets", paymentsNS), "db"), want{allowed: true, layer: authz.LayerRBAC, role: "ClusterRole edit"}},
		{"edit execs into pods", resource(alice, "create", "", "pods/exec", paymentsNS), want{allowed: true, layer: authz.LayerRBAC, role: "ClusterRole edit"}},
		{"edit cannot create namespaces", resource(alice, "create", "", "namespaces", ""), want{
			reason: []string{`User "dev:alice" cannot create resource "namespaces" in API group "" at the cluster scope`},
		}},

		// view, admin and nested aggregation
		{"view cannot get secrets", named(resource(victor, "get", "", "secrets", paymentsNS), "db"), want{
			reason: []string{`secrets "db" is forbidden: User "victor" cannot get resource "secrets" in API group "" in the namespace "app-payments"`},
		}},
		{"view lists pods", resource(victor, "list", "", "pods", paymentsNS), want{allowed: true, layer: authz.LayerRBAC, binding: "RoleBinding app-payments/victor-view", role: "ClusterRole view"}},
		{"view cannot delete pods", named(resource(victor, "delete", "", "pods", paymentsNS), "p"), want{}},
		{"view gets a CRD aggregated into view", resource(victor, "list", "example.com", "widgets", paymentsNS), want{
			allowed: true, layer: authz.LayerRBAC, role: "ClusterRole view", reason: []string{"aggregated from ClusterRole widget-viewer"},
		}},
		{"admin creates rolebindings", resource(adam, "create", "rbac.authorization.k8s.io", "rolebindings", paymentsNS), want{
			allowed: true, layer: authz.LayerRBAC, binding: "RoleBinding app-payments/adam-admin", role: "ClusterRole admin",
		}},
		{"admin inherits view's aggregated CRD through edit", resource(adam, "watch", "example.com", "widgets", paymentsNS), want{
			allowed: true, layer: authz.LayerRBAC, role: "ClusterRole admin", reason: []string{"aggregated from ClusterRole widget-viewer"},
		}},
		{"admin only in its namespace", resource(adam, "create", "rbac.authorization.k8s.io", "rolebindings", "default"), want{}},
		{"custom aggregated ClusterRole: resources", resource(mona, "list", "", "nodes", ""), want{
			allowed: true, layer: authz.LayerRBAC, binding: "ClusterRoleBinding monitoring", role: "ClusterRole monitoring", reason: []string{"aggregated from ClusterRole monitoring-nodes"},
		}},
		{"custom aggregated ClusterRole: non-resource URL", path(mona, "get", "/metrics"), want{allowed: true, layer: authz.LayerRBAC, role: "ClusterRole monitoring"}},
		{"custom aggregated ClusterRole grants no more", resource(mona, "delete", "", "nodes", ""), want{}},

		// resourceNames and subresources
		{"resourceNames allows the named object", named(resource(rita, "get", "", "configmaps", paymentsNS), "app-config"), want{
			allowed: true, layer: authz.LayerRBAC, binding: "RoleBinding app-payments/rita-config", role: "Role app-payments/config-reader",
			reason: []string{`ResourceNames:["app-config"]`},
		}},
		{"resourceNames denies another object", named(resource(rita, "get", "", "configmaps", paymentsNS), "other"), want{
			reason: []string{`configmaps "other" is forbidden: User "rita" cannot get resource "configmaps" in API group "" in the namespace "app-payments"`},
		}},
		{"resourceNames denies list", resource(rita, "list", "", "configmaps", paymentsNS), want{}},
		{"resourceNames cannot restrict create", named(resource(nick, "create", "", "configmaps", paymentsNS), "x"), want{}},
		{"pods rule does not cover pods/exec", resource(paul, "create", "", "pods/exec", paymentsNS), want{
			reason: []string{`cannot create resource "pods/exec" in API group "" in the namespace "app-payments"`},
		}},
		{"pods rule covers pods", named(resource(paul, "get", "", "pods", paymentsNS), "p"), want{allowed: true, layer: authz.LayerRBAC, role: "Role app-payments/pod-reader"}},
		{"pods/exec rule", named(resource(erin, "create", "", "pods/exec", paymentsNS), "p"), want{allowed: true, layer: authz.LayerRBAC, role: "Role app-payments/pod-exec", reason: []string{`"pods/exec"`}}},
		{"pods/exec rule does not cover pods/log", named(resource(erin, "get", "", "pods/log", paymentsNS), "p"), want{}},

		// bootstrap policy
		{"healthz for unauthenticated", path(anonymous, "get", "/healthz"), want{
			allowed: true, layer: authz.LayerRBAC, binding: "ClusterRoleBinding system:public-info-viewer", role: "ClusterRole system:public-info-viewer",
			reason: []string{`(Group "system:unauthenticated")`},
		}},
		{"healthz for authenticated", path(bob, "get", "/healthz"), want{allowed: true, layer: authz.LayerRBAC}},
		{"version for authenticated", path(bob, "get", "/version"), want{allowed: true, layer: authz.LayerRBAC}},
		{"healthz is get only", path(anonymous, "post", "/healthz"), want{reason: []string{`forbidden: User "system:anonymous" cannot post path "/healthz"`}}},
		{"metrics denied to a plain user", path(bob, "get", "/metrics"), want{
			reason: []string{`forbidden: User "bob" cannot get path "/metrics"`},
		}},
		{"selfsubjectreviews for everyone authenticated", resource(bob, "create", "authentication.k8s.io", "selfsubjectreviews", ""), want{
			allowed: true, layer: authz.LayerRBAC, binding: "ClusterRoleBinding system:basic-user",
		}},
		{"no binding applies to a user without groups", resource(&user.DefaultInfo{Name: "lonely"}, "list", "", "pods", "default"), want{
			checked: []string{`RBAC: no ClusterRoleBinding or RoleBinding in namespace "default" applies to User "lonely" with groups []`},
		}},
		{"plain user cannot list pods", resource(bob, "list", "", "pods", "default"), want{}},
		{"service account subject defaults to the binding's namespace", resource(deployer, "create", "apps", "deployments", paymentsNS), want{
			allowed: true, layer: authz.LayerRBAC, binding: "RoleBinding app-payments/deployer", reason: []string{`ServiceAccount "deployer/app-payments"`},
		}},
		{"bootstrap namespaced Role", resource(signer, "list", "", "configmaps", "kube-public"), want{
			allowed: true, layer: authz.LayerRBAC, binding: "RoleBinding kube-public/system:controller:bootstrap-signer", role: "Role kube-public/system:controller:bootstrap-signer",
		}},
		{"bootstrap controller role", named(resource(depCtrl, "update", "apps", "deployments", "x"), "d"), want{
			allowed: true, layer: authz.LayerRBAC, binding: "ClusterRoleBinding system:controller:deployment-controller",
		}},
		{"binding to a missing ClusterRole", resource(gus, "list", "", "configmaps", paymentsNS), want{
			reason:  []string{`: RBAC: clusterrole.rbac.authorization.k8s.io "does-not-exist" not found`},
			checked: []string{`RBAC: clusterrole.rbac.authorization.k8s.io "does-not-exist" not found`},
		}},

		// EKS access policies
		{"view policy in a matching namespace", via(resource(carol, "list", "", "pods", paymentsNS), devARN), want{
			allowed: true, layer: authz.LayerAccessPolicy, policy: "AmazonEKSViewPolicy", scope: "namespace: app-*",
			reason: []string{"access entry " + devARN + " → access policy AmazonEKSViewPolicy (namespace: app-*): rule"},
		}},
		{"view policy outside its namespaces", via(resource(carol, "list", "", "pods", "default"), devARN), want{
			reason:  []string{`pods is forbidden: User "dev:carol" cannot list resource "pods" in API group "" in the namespace "default"`},
			checked: []string{`access policy AmazonEKSViewPolicy (namespace: app-*): namespace "default" is outside the scope`},
		}},
		{"view policy cannot read secrets", via(named(resource(carol, "get", "", "secrets", paymentsNS), "db"), devARN), want{
			checked: []string{"access policy AmazonEKSViewPolicy (namespace: app-*): no rule matches"},
		}},
		{"namespace-scoped policy does not cover cluster-wide lists", via(resource(carol, "list", "", "pods", ""), devARN), want{
			checked: []string{"a cluster-wide request is outside a namespace scope"},
		}},
		{"namespace-scoped policy does not cover non-resource URLs", via(path(carol, "get", "/metrics"), devARN), want{
			checked: []string{`non-resource URL "/metrics" is outside a namespace scope`},
		}},
		{"namespace-scoped policy covers its namespace object", via(named(resource(carol, "get", "", "namespaces", ""), paymentsNS), devARN), want{
			allowed: true, layer: authz.LayerAccessPolicy, policy: "AmazonEKSViewPolicy",
		}},
		{"policies ignored without an access entry", resource(carol, "list", "", "pods", paymentsNS), want{
			checked: []string{"access policies: not consulted"},
		}},
		{"access entry without policies", via(resource(carol, "list", "", "pods", paymentsNS), nobodyARN), want{
			checked: []string{"access entry " + nobodyARN + " has none associated"},
		}},
		{"cluster admin policy deletes nodes", via(named(resource(bob, "delete", "", "nodes", ""), "n1"), adminARN), want{
			allowed: true, layer: authz.LayerAccessPolicy, policy: "AmazonEKSClusterAdminPolicy", scope: "cluster",
		}},
		{"cluster admin policy covers non-resource URLs", via(path(bob, "get", "/metrics"), adminARN), want{
			allowed: true, layer: authz.LayerAccessPolicy, policy: "AmazonEKSClusterAdminPolicy", reason: []string{`NonResourceURLs:["*"]`},
		}},
		{"admin policy creates rolebindings in scope", via(resource(bob, "create", "rbac.authorization.k8s.io", "rolebindings", "team-a"), teamARN), want{
			allowed: true, layer: authz.LayerAccessPolicy, policy: "AmazonEKSAdminPolicy", scope: "namespace: team-a",
		}},
		{"admin policy creates localsubjectaccessreviews", via(resource(bob, "create", "authorization.k8s.io", "localsubjectaccessreviews", "team-a"), teamARN), want{
			allowed: true, layer: authz.LayerAccessPolicy, policy: "AmazonEKSAdminPolicy",
		}},
		{"admin policy exact namespace does not match a prefix", via(resource(bob, "create", "rbac.authorization.k8s.io", "rolebindings", "team-ab"), teamARN), want{}},
		{"admin policy cannot create clusterrolebindings", via(resource(bob, "create", "rbac.authorization.k8s.io", "clusterrolebindings", ""), teamARN), want{}},
		{"admin view policy reads secrets everywhere", via(named(resource(bob, "get", "", "secrets", "kube-system"), "s"), readerARN), want{
			allowed: true, layer: authz.LayerAccessPolicy, policy: "AmazonEKSAdminViewPolicy",
		}},
		{"admin view policy reads cluster-scoped objects", via(resource(bob, "list", "", "nodes", ""), readerARN), want{allowed: true, layer: authz.LayerAccessPolicy, policy: "AmazonEKSAdminViewPolicy"}},
		{"admin view policy cannot write", via(named(resource(bob, "delete", "", "pods", "x"), "p"), readerARN), want{}},
		{"secret reader policy, given by ARN, adds secrets to RBAC view", via(named(resource(victor, "get", "", "secrets", paymentsNS), "db"), victorARN), want{
			allowed: true, layer: authz.LayerAccessPolicy, policy: "AmazonEKSSecretReaderPolicy", scope: "namespace: app-payments",
		}},
		{"RBAC is consulted before access policies", via(resource(victor, "list", "", "pods", paymentsNS), victorARN), want{
			allowed: true, layer: authz.LayerRBAC, role: "ClusterRole view",
		}},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := a.Authorize(ctx, tc.req)
			checkDecision(t, got, tc.want)
		})
	}
}

func checkDecision(t *testing.T, got authz.Decision, w want) {
	t.Helper()
	if got.Allowed != w.allowed {
		t.Errorf("Allowed = %v, want %v (reason: %s; checked: %q)", got.Allowed, w.allowed, got.Reason, got.Checked)
	}
	if got.Layer != w.layer {
		t.Errorf("Layer = %q, want %q", got.Layer, w.layer)
	}
	if w.binding != "" && got.Binding != w.binding {
		t.Errorf("Binding = %q, want %q", got.Binding, w.binding)
	}
	if w.role != "" && got.Role != w.role {
		t.Errorf("Role = %q, want %q", got.Role, w.role)
	}
	if got.Policy != w.policy {
		t.Errorf("Policy = %q, want %q", got.Policy, w.policy)
	}
	if w.scope != "" && got.Scope != w.scope {
		t.Errorf("Scope = %q, want %q", got.Scope, w.scope)
	}
	if got.Allowed && got.Layer != authz.LayerSystemMasters && got.Rule == nil {
		t.Errorf("Rule is nil for an allowed %s decision", got.Layer)
	}
	if !got.Allowed && (got.Rule != nil || got.Binding != "" || got.Policy != "") {
		t.Errorf("denied decision names a grant: %+v", got)
	}
	if got.Allowed && len(got.Checked) > 0 {
		t.Errorf("Checked = %q for an allowed request", got.Checked)
	}
	if !got.Allowed && len(got.Checked) == 0 {
		t.Errorf("Checked is empty for a denied request")
	}
	for _, s := range w.reason {
		if !strings.Contains(got.Reason, s) {
			t.Errorf("Reason = %q, want it to contain %q", got.Reason, s)
		}
	}
	for _, s := range w.checked {
		found := false
		for _, c := range got.Checked {
			found = found || strings.Contains(c, s)
		}
		if !found {
			t.Errorf("Checked = %q, want an entry containing %q", got.Checked, s)
		}
	}
}

// TestDeniedReasonNamesTheRequest checks the denial message has the shape of the API server's 403
// (responsewriters.ForbiddenStatusError) for each kind of request.
func TestDeniedReasonNamesTheRequest(t *testing.T) {
	a := newFixture(t)
	cases := []struct {
		name string
		req  authz.Request
		want string
	}{
		{"namespaced collection", resource(bob, "delete", "", "configmaps", "ns"), `configmaps is forbidden: User "bob" cannot delete resource "configmaps" in API group "" in the namespace "ns"`},
		{"namespaced named", named(resource(bob, "delete", "", "configmaps", "ns"), "cm"), `configmaps "cm" is forbidden: User "bob" cannot delete resource "configmaps" in API group "" in the namespace "ns"`},
		{"group and subresource", named(resource(bob, "update", "apps", "deployments/scale", "ns"), "web"), `deployments.apps "web" is forbidden: User "bob" cannot update resource "deployments/scale" in API group "apps" in the namespace "ns"`},
		{"cluster scope", named(resource(bob, "delete", "", "nodes", ""), "n1"), `nodes "n1" is forbidden: User "bob" cannot delete resource "nodes" in API group "" at the cluster scope`},
		{"namespace object", named(resource(bob, "delete", "", "namespaces", ""), "ns"), `namespaces "ns" is forbidden: User "bob" cannot delete resource "namespaces" in API group "" in the namespace "ns"`},
		{"non-resource", path(bob, "get", "/metrics"), `forbidden: User "bob" cannot get path "/metrics"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := a.Authorize(context.Background(), tc.req)
			if got.Allowed || got.Reason != tc.want {
				t.Errorf("got Allowed=%v Reason %q, want denied with %q", got.Allowed, got.Reason, tc.want)
			}
		})
	}
}

// TestMatchesUpstreamRBACAuthorizer compares the RBAC layer with the upstream rbac.RBACAuthorizer over
// the same objects, for users outside system:masters and without access policies.
func TestMatchesUpstreamRBACAuthorizer(t *testing.T) {
	a := newFixture(t)
	upstream := authz.UpstreamRBAC(a)
	users := []user.Info{alice, victor, adam, rita, paul, erin, mona, gus, nick, bob, carol, anonymous, deployer, signer, depCtrl}
	var reqs []authz.Request
	for _, u := range users {
		for _, ns := range []string{"", paymentsNS, "default", "kube-public", "kube-system"} {
			for _, verb := range []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "impersonate", "bind", "escalate"} {
				for _, gr := range [][2]string{{"", "pods"}, {"", "pods/exec"}, {"", "pods/log"}, {"", "secrets"}, {"", "configmaps"}, {"", "nodes"}, {"", "namespaces"}, {"", "serviceaccounts"}, {"apps", "deployments"}, {"apps", "deployments/scale"}, {"rbac.authorization.k8s.io", "roles"}, {"rbac.authorization.k8s.io", "rolebindings"}, {"rbac.authorization.k8s.io", "clusterroles"}, {"example.com", "widgets"}, {"authorization.k8s.io", "localsubjectaccessreviews"}} {
					for _, name := range []string{"", "app-config", "x"} {
						reqs = append(reqs, named(resource(u, verb, gr[0], gr[1], ns), name))
					}
				}
			}
		}
		for _, p := range []string{"/healthz", "/livez", "/readyz", "/metrics", "/version", "/api", "/apis/apps", "/openapi/v3", "/logs"} {
			for _, verb := range []string{"get", "post"} {
				reqs = append(reqs, path(u, verb, p))
			}
		}
	}
	ctx := context.Background()
	allowed := 0
	for _, r := range reqs {
		got := a.Authorize(ctx, r)
		d, _, err := upstream.Authorize(ctx, authz.Attributes(r))
		if err != nil {
			t.Fatalf("upstream Authorize: %v", err)
		}
		if got.Allowed != (d == authorizer.DecisionAllow) {
			t.Errorf("%+v: Allowed = %v, upstream RBAC decision %v", authz.Attributes(r), got.Allowed, d)
		}
		if got.Allowed {
			allowed++
		}
	}
	t.Logf("%d requests, %d allowed", len(reqs), allowed)
	if allowed == 0 || allowed == len(reqs) {
		t.Fatalf("degenerate comparison: %d of %d allowed", allowed, len(reqs))
	}
}

func TestRequestNormalisation(t *testing.T) {
	cases := []struct {
		name          string
		req           authz.Request
		wantName      string
		wantNamespace string
	}{
		{"create has no name", named(resource(bob, "create", "", "configmaps", "ns"), "cm"), "", "ns"},
		{"create on a subresource keeps the name", named(resource(bob, "create", "", "pods/eviction", "ns"), "p"), "p", "ns"},
		{"get keeps the name", named(resource(bob, "get", "", "configmaps", "ns"), "cm"), "cm", "ns"},
		{"namespaces/NAME is in namespace NAME", named(resource(bob, "get", "", "namespaces", ""), "ns1"), "ns1", "ns1"},
		{"namespaces/NAME/finalize too", named(resource(bob, "update", "", "namespaces/finalize", ""), "ns1"), "ns1", "ns1"},
		{"creating a namespace is cluster-scoped", named(resource(bob, "create", "", "namespaces", ""), "ns1"), "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := authz.Attributes(tc.req)
			if got.GetName() != tc.wantName || got.GetNamespace() != tc.wantNamespace {
				t.Errorf("name %q namespace %q, want %q %q", got.GetName(), got.GetNamespace(), tc.wantName, tc.wantNamespace)
			}
		})
	}
}

func TestBootstrapReconciliation(t *testing.T) {
	publicInfo := func(annotations map[string]string) rbacv1.ClusterRole {
		return rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "system:public-info-viewer", Annotations: annotations},
			Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/version"}, Verbs: []string{"get"}}},
		}
	}
	cases := []struct {
		name        string
		role        rbacv1.ClusterRole
		wantHealthz bool
	}{
		{"a modified default role gets its default rules back", publicInfo(nil), true},
		{"autoupdate=false keeps the modified role", publicInfo(map[string]string{rbacv1.AutoUpdateAnnotationKey: "false"}), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := authz.New(authz.RBACObjects{ClusterRoles: []rbacv1.ClusterRole{tc.role}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if got := a.Authorize(ctx, path(anonymous, "get", "/healthz")); got.Allowed != tc.wantHealthz {
				t.Errorf("anonymous GET /healthz: Allowed = %v, want %v (%s)", got.Allowed, tc.wantHealthz, got.Reason)
			}
			if got := a.Authorize(ctx, path(anonymous, "get", "/version")); !got.Allowed {
				t.Errorf("anonymous GET /version denied: %s", got.Reason)
			}
		})
	}
}

func TestAssociationReplacesScope(t *testing.T) {
	a, err := authz.New(authz.RBACObjects{}, []authz.Association{
		{PrincipalARN: devARN, Policy: "AmazonEKSViewPolicy", Namespaces: []string{"first"}},
		{PrincipalARN: devARN, Policy: "AmazonEKSViewPolicy", Namespaces: []string{"second"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got := a.Authorize(ctx, via(resource(carol, "list", "", "pods", "first"), devARN)); got.Allowed {
		t.Errorf("first scope still applies: %s", got.Reason)
	}
	if got := a.Authorize(ctx, via(resource(carol, "list", "", "pods", "second"), devARN)); !got.Allowed {
		t.Errorf("second scope does not apply: %s %q", got.Reason, got.Checked)
	}
}

func TestNewRejectsInvalidInput(t *testing.T) {
	objs := authz.RBACObjects{
		Roles: []rbacv1.Role{
			{ObjectMeta: metav1.ObjectMeta{Name: "no-namespace"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}},
			role("ns", "no-verbs", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}}),
			role("ns", "dup", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}),
			role("ns", "dup", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}),
			role("ns", "urls", rbacv1.PolicyRule{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}),
		},
		RoleBindings: []rbacv1.RoleBinding{
			roleBinding("ns", "bad-kind", "Deployment", "x", userSubject("u")),
		},
		ClusterRoleBindings: []rbacv1.ClusterRoleBinding{{
			ObjectMeta: metav1.ObjectMeta{Name: "to-role"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "x"},
			Subjects:   []rbacv1.Subject{userSubject("u")},
		}},
	}
	associations := []authz.Association{
		{PrincipalARN: devARN, Policy: "AmazonEKSSuperPolicy", ClusterScope: true},
		{PrincipalARN: devARN, Policy: "AmazonEKSViewPolicy"},
		{PrincipalARN: devARN, Policy: "AmazonEKSEditPolicy", ClusterScope: true, Namespaces: []string{"a"}},
		{PrincipalARN: devARN, Policy: "AmazonEKSAdminPolicy", Namespaces: []string{"a*b"}},
		{Policy: "AmazonEKSAdminPolicy", ClusterScope: true},
	}
	_, err := authz.New(objs, associations)
	if err == nil {
		t.Fatal("New accepted invalid input")
	}
	for _, want := range []string{
		`invalid Role /no-namespace: metadata.namespace: Required value`,
		`invalid Role ns/no-verbs: rules[0].verbs: Required value`,
		`duplicate Role ns/dup`,
		`invalid Role ns/urls: rules[0].nonResourceURLs: Invalid value`,
		`invalid RoleBinding ns/bad-kind: roleRef.kind: Unsupported value: "Deployment"`,
		`invalid ClusterRoleBinding "to-role": roleRef.kind: Unsupported value: "Role"`,
		`the rules of access policy "AmazonEKSSuperPolicy" are not modelled`,
		`a namespace scope needs at least one namespace`,
		`a cluster scope takes no namespaces`,
		`namespace "a*b": only an exact name or a trailing * is supported`,
		`principal ARN is empty`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestNewAcceptsDefaultedAndClusterScopedNamespace(t *testing.T) {
	// The API server defaults roleRef.apiGroup and subject apiGroup, and drops metadata.namespace of
	// cluster-scoped objects; manifests relying on that must load.
	_, err := authz.New(authz.RBACObjects{
		ClusterRoles: []rbacv1.ClusterRole{{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ignored"}}},
		ClusterRoleBindings: []rbacv1.ClusterRoleBinding{{
			ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ignored"},
			RoleRef:    rbacv1.RoleRef{Kind: "ClusterRole", Name: "r"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "u"}},
		}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

func TestRulesForOmitsAccessPolicies(t *testing.T) {
	a := newFixture(t)
	rules, err := a.RulesFor(context.Background(), victor, paymentsNS)
	if err != nil {
		t.Fatal(err)
	}
	hasPods, hasSecrets := false, false
	for _, r := range rules {
		for _, res := range r.Resources {
			hasPods = hasPods || res == "pods"
			hasSecrets = hasSecrets || res == "secrets"
		}
	}
	if !hasPods || hasSecrets {
		t.Errorf("RulesFor(victor, app-payments): pods %v secrets %v, want the view rules only", hasPods, hasSecrets)
	}
}

func TestConcurrentAuthorize(t *testing.T) {
	a := newFixture(t)
	done := make(chan struct{})
	for i := 0; i < 4; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := 0; j < 200; j++ {
				a.Authorize(context.Background(), resource(alice, "create", "", "configmaps", paymentsNS))
				a.Authorize(context.Background(), via(resource(carol, "list", "", "pods", "default"), devARN))
			}
		}()
	}
	for i := 0; i < 4; i++ {
		<-done
	}
}

func metaName(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }

func TestDecisionRuleIsACopy(t *testing.T) {
	a := newFixture(t)
	req := resource(alice, "create", "", "configmaps", paymentsNS)
	first := a.Authorize(context.Background(), req)
	first.Rule.Verbs = nil
	first.Rule.Resources[0] = "mutated"
	if again := a.Authorize(context.Background(), req); !again.Allowed || again.Rule.Resources[0] == "mutated" {
		t.Errorf("mutating Decision.Rule changed the authorizer: %+v", again)
	}
}

func TestMutuallyAggregatedClusterRolesConverge(t *testing.T) {
	selecting := func(label string) *rbacv1.AggregationRule {
		return &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{label: "true"}}}}
	}
	objs := authz.RBACObjects{
		ClusterRoles: []rbacv1.ClusterRole{
			{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"to-b": "true"}}, AggregationRule: selecting("to-a")},
			{ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{"to-a": "true"}}, AggregationRule: selecting("to-b")},
			{ObjectMeta: metav1.ObjectMeta{Name: "c", Labels: map[string]string{"to-a": "true"}}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}},
		},
		ClusterRoleBindings: []rbacv1.ClusterRoleBinding{{
			ObjectMeta: metav1.ObjectMeta{Name: "b"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "b"},
			Subjects:   []rbacv1.Subject{userSubject("u")},
		}},
	}
	a, err := authz.New(objs, nil)
	if err != nil {
		t.Fatal(err)
	}
	// c → a (selects to-a) → b (selects to-b, which a carries).
	got := a.Authorize(context.Background(), resource(&user.DefaultInfo{Name: "u"}, "get", "", "pods", "x"))
	if !got.Allowed || got.Role != "ClusterRole b" || !strings.Contains(got.Reason, "aggregated from ClusterRole c") {
		t.Errorf("got %+v", got)
	}
}
