package authz

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac"
)

// UpstreamRBAC returns the upstream rbac.RBACAuthorizer over the same objects as a, for tests that
// compare decisions.
func UpstreamRBAC(a *Authorizer) authorizer.Authorizer {
	return rbac.New(a.index, a.index, a.index, a.index)
}

// ClusterRoles returns a's ClusterRoles after reconciliation and aggregation.
func ClusterRoles(a *Authorizer) map[string]*rbacv1.ClusterRole {
	return a.index.clusterRoles
}

// Attributes returns the authorizer attributes Authorize builds for r.
func Attributes(r Request) authorizer.Attributes {
	return r.attributes()
}
