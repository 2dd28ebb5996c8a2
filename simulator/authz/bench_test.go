package authz_test

import (
	"context"
	"fmt"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"guardrail.dev/guardrail/simulator/authz"
)

// benchObjects is a cluster with 50 team namespaces, each with 5 RoleBindings (to edit, view, admin, a
// Role and a group), plus 100 ClusterRoleBindings: 350 user bindings on top of the bootstrap policy.
func benchObjects() (authz.RBACObjects, []authz.Association) {
	objs, associations := fixture()
	for i := 0; i < 50; i++ {
		ns := fmt.Sprintf("team-%02d", i)
		objs.Roles = append(objs.Roles, role(ns, "reader", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}))
		objs.RoleBindings = append(objs.RoleBindings,
			roleBinding(ns, "edit", "ClusterRole", "edit", userSubject(fmt.Sprintf("editor-%02d", i))),
			roleBinding(ns, "view", "ClusterRole", "view", userSubject(fmt.Sprintf("viewer-%02d", i)), userSubject("auditor")),
			roleBinding(ns, "admin", "ClusterRole", "admin", userSubject(fmt.Sprintf("admin-%02d", i))),
			roleBinding(ns, "reader", "Role", "reader", userSubject(fmt.Sprintf("reader-%02d", i))),
			roleBinding(ns, "group-edit", "ClusterRole", "edit", rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: fmt.Sprintf("team-%02d", i)}),
		)
		associations = append(associations, authz.Association{
			PrincipalARN: fmt.Sprintf("arn:aws:iam::123456789012:role/team-%02d", i), Policy: "AmazonEKSEditPolicy", Namespaces: []string{ns},
		})
	}
	for i := 0; i < 100; i++ {
		objs.ClusterRoleBindings = append(objs.ClusterRoleBindings, rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("crb-%03d", i)},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects:   []rbacv1.Subject{userSubject(fmt.Sprintf("global-viewer-%03d", i)), {Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: fmt.Sprintf("g-%03d", i)}},
		})
	}
	return objs, associations
}

func BenchmarkNew(b *testing.B) {
	objs, associations := benchObjects()
	for b.Loop() {
		if _, err := authz.New(objs, associations); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthorize(b *testing.B) {
	objs, associations := benchObjects()
	a, err := authz.New(objs, associations)
	if err != nil {
		b.Fatal(err)
	}
	editor := authenticated("editor-49", "team-07")
	cases := []struct {
		name string
		req  authz.Request
	}{
		{"system-masters", resource(masters, "delete", "", "nodes", "")},
		{"rbac-allowed-rolebinding", resource(editor, "create", "", "configmaps", "team-49")},
		{"rbac-allowed-clusterrolebinding", resource(authenticated("global-viewer-099"), "list", "", "pods", "team-10")},
		{"rbac-allowed-nonresource", path(editor, "get", "/healthz")},
		{"access-policy-allowed", via(resource(authenticated("dev:x"), "list", "", "pods", "team-30"), "arn:aws:iam::123456789012:role/team-30")},
		{"denied", resource(editor, "delete", "", "nodes", "")},
		{"denied-with-access-entry", via(resource(authenticated("dev:x"), "list", "", "secrets", "team-31"), "arn:aws:iam::123456789012:role/team-30")},
	}
	ctx := context.Background()
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.Authorize(ctx, tc.req)
			}
		})
	}
	b.Run("mixed-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				a.Authorize(ctx, cases[i%len(cases)].req)
				i++
			}
		})
	})
}
