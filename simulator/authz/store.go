package authz

import (
	"context"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/component-helpers/auth/rbac/reconciliation"
)

// nsName identifies a namespaced object.
type nsName struct{ namespace, name string }

// store holds the cluster's RBAC objects while New assembles them: first the user's objects, then the
// bootstrap policy reconciled over them, then the aggregated ClusterRoles filled in.
type store struct {
	clusterRoles        map[string]*rbacv1.ClusterRole
	roles               map[nsName]*rbacv1.Role
	clusterRoleBindings map[string]*rbacv1.ClusterRoleBinding
	roleBindings        map[nsName]*rbacv1.RoleBinding
}

func newStore() *store {
	return &store{
		clusterRoles:        map[string]*rbacv1.ClusterRole{},
		roles:               map[nsName]*rbacv1.Role{},
		clusterRoleBindings: map[string]*rbacv1.ClusterRoleBinding{},
		roleBindings:        map[nsName]*rbacv1.RoleBinding{},
	}
}

// The four modifiers below let the upstream reconciliation code (the same code the kube-apiserver's
// rbac/bootstrap-roles post-start hook runs) read and write the in-memory store.

type clusterRoleModifier struct{ s *store }

func (m clusterRoleModifier) Get(_, name string) (reconciliation.RuleOwner, error) {
	cr, ok := m.s.clusterRoles[name]
	if !ok {
		return nil, apierrors.NewNotFound(rbacv1.Resource("clusterroles"), name)
	}
	return reconciliation.ClusterRoleRuleOwner{ClusterRole: cr.DeepCopy()}, nil
}

func (m clusterRoleModifier) Create(in reconciliation.RuleOwner) (reconciliation.RuleOwner, error) {
	cr := in.GetObject().(*rbacv1.ClusterRole)
	if _, ok := m.s.clusterRoles[cr.Name]; ok {
		return nil, apierrors.NewAlreadyExists(rbacv1.Resource("clusterroles"), cr.Name)
	}
	m.s.clusterRoles[cr.Name] = cr.DeepCopy()
	return in, nil
}

func (m clusterRoleModifier) Update(in reconciliation.RuleOwner) (reconciliation.RuleOwner, error) {
	cr := in.GetObject().(*rbacv1.ClusterRole)
	if _, ok := m.s.clusterRoles[cr.Name]; !ok {
		return nil, apierrors.NewNotFound(rbacv1.Resource("clusterroles"), cr.Name)
	}
	m.s.clusterRoles[cr.Name] = cr.DeepCopy()
	return in, nil
}

type roleModifier struct{ s *store }

func (m roleModifier) Get(namespace, name string) (reconciliation.RuleOwner, error) {
	r, ok := m.s.roles[nsName{namespace, name}]
	if !ok {
		return nil, apierrors.NewNotFound(rbacv1.Resource("roles"), name)
	}
	return reconciliation.RoleRuleOwner{Role: r.DeepCopy()}, nil
}

func (m roleModifier) Create(in reconciliation.RuleOwner) (reconciliation.RuleOwner, error) {
	r := in.GetObject().(*rbacv1.Role)
	k := nsName{r.Namespace, r.Name}
	if _, ok := m.s.roles[k]; ok {
		return nil, apierrors.NewAlreadyExists(rbacv1.Resource("roles"), r.Name)
	}
	m.s.roles[k] = r.DeepCopy()
	return in, nil
}

func (m roleModifier) Update(in reconciliation.RuleOwner) (reconciliation.RuleOwner, error) {
	r := in.GetObject().(*rbacv1.Role)
	k := nsName{r.Namespace, r.Name}
	if _, ok := m.s.roles[k]; !ok {
		return nil, apierrors.NewNotFound(rbacv1.Resource("roles"), r.Name)
	}
	m.s.roles[k] = r.DeepCopy()
	return in, nil
}

type clusterRoleBindingModifier struct{ s *store }

func (m clusterRoleBindingModifier) Get(_, name string) (reconciliation.RoleBinding, error) {
	b, ok := m.s.clusterRoleBindings[name]
	if !ok {
		return nil, apierrors.NewNotFound(rbacv1.Resource("clusterrolebindings"), name)
	}
	return reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: b.DeepCopy()}, nil
}

func (m clusterRoleBindingModifier) Delete(_, name string, _ types.UID) error {
	if _, ok := m.s.clusterRoleBindings[name]; !ok {
		return apierrors.NewNotFound(rbacv1.Resource("clusterrolebindings"), name)
	}
	delete(m.s.clusterRoleBindings, name)
	return nil
}

func (m clusterRoleBindingModifier) Create(in reconciliation.RoleBinding) (reconciliation.RoleBinding, error) {
	b := in.GetObject().(*rbacv1.ClusterRoleBinding)
	if _, ok := m.s.clusterRoleBindings[b.Name]; ok {
		return nil, apierrors.NewAlreadyExists(rbacv1.Resource("clusterrolebindings"), b.Name)
	}
	m.s.clusterRoleBindings[b.Name] = b.DeepCopy()
	return in, nil
}

func (m clusterRoleBindingModifier) Update(in reconciliation.RoleBinding) (reconciliation.RoleBinding, error) {
	b := in.GetObject().(*rbacv1.ClusterRoleBinding)
	if _, ok := m.s.clusterRoleBindings[b.Name]; !ok {
		return nil, apierrors.NewNotFound(rbacv1.Resource("clusterrolebindings"), b.Name)
	}
	m.s.clusterRoleBindings[b.Name] = b.DeepCopy()
	return in, nil
}

type roleBindingModifier struct{ s *store }

func (m roleBindingModifier) Get(namespace, name string) (reconciliation.RoleBinding, error) {
	b, ok := m.s.roleBindings[nsName{namespace, name}]
	if !ok {
		return nil, apierrors.NewNotFound(rbacv1.Resource("rolebindings"), name)
	}
	return reconciliation.RoleBindingAdapter{RoleBinding: b.DeepCopy()}, nil
}

func (m roleBindingModifier) Delete(namespace, name string, _ types.UID) error {
	k := nsName{namespace, name}
	if _, ok := m.s.roleBindings[k]; !ok {
		return apierrors.NewNotFound(rbacv1.Resource("rolebindings"), name)
	}
	delete(m.s.roleBindings, k)
	return nil
}

func (m roleBindingModifier) Create(in reconciliation.RoleBinding) (reconciliation.RoleBinding, error) {
	b := in.GetObject().(*rbacv1.RoleBinding)
	k := nsName{b.Namespace, b.Name}
	if _, ok := m.s.roleBindings[k]; ok {
		return nil, apierrors.NewAlreadyExists(rbacv1.Resource("rolebindings"), b.Name)
	}
	m.s.roleBindings[k] = b.DeepCopy()
	return in, nil
}

func (m roleBindingModifier) Update(in reconciliation.RoleBinding) (reconciliation.RoleBinding, error) {
	b := in.GetObject().(*rbacv1.RoleBinding)
	k := nsName{b.Namespace, b.Name}
	if _, ok := m.s.roleBindings[k]; !ok {
		return nil, apierrors.NewNotFound(rbacv1.Resource("rolebindings"), b.Name)
	}
	m.s.roleBindings[k] = b.DeepCopy()
	return in, nil
}

// index is the read-only, query-optimised form of the store. It implements the four getter/lister
// interfaces of k8s.io/kubernetes/pkg/registry/rbac/validation that the upstream rule resolver needs.
type index struct {
	clusterRoles        map[string]*rbacv1.ClusterRole
	roles               map[nsName]*rbacv1.Role
	clusterRoleBindings []*rbacv1.ClusterRoleBinding     // sorted by name
	roleBindings        map[string][]*rbacv1.RoleBinding // by namespace, each sorted by name
	aggregatedFrom      map[*rbacv1.PolicyRule]string    // rule of an aggregated ClusterRole → ClusterRole it came from
}

func (s *store) index(aggregatedFrom map[string][]string) *index {
	idx := &index{
		clusterRoles:   s.clusterRoles,
		roles:          s.roles,
		roleBindings:   map[string][]*rbacv1.RoleBinding{},
		aggregatedFrom: map[*rbacv1.PolicyRule]string{},
	}
	for _, b := range s.clusterRoleBindings {
		idx.clusterRoleBindings = append(idx.clusterRoleBindings, b)
	}
	sort.Slice(idx.clusterRoleBindings, func(i, j int) bool {
		return idx.clusterRoleBindings[i].Name < idx.clusterRoleBindings[j].Name
	})
	for _, b := range s.roleBindings {
		idx.roleBindings[b.Namespace] = append(idx.roleBindings[b.Namespace], b)
	}
	for _, bs := range idx.roleBindings {
		sort.Slice(bs, func(i, j int) bool { return bs[i].Name < bs[j].Name })
	}
	for name, origins := range aggregatedFrom {
		cr := s.clusterRoles[name]
		for i := range cr.Rules {
			if i < len(origins) {
				idx.aggregatedFrom[&cr.Rules[i]] = origins[i]
			}
		}
	}
	return idx
}

// countLookup bumps the per-request lookup counter rbacChecked puts in the context, if any.
func countLookup(ctx context.Context) {
	if n, ok := ctx.Value(roleLookupsKey{}).(*int); ok {
		*n++
	}
}

func (x *index) GetRole(ctx context.Context, namespace, name string) (*rbacv1.Role, error) {
	countLookup(ctx)
	if r, ok := x.roles[nsName{namespace, name}]; ok {
		return r, nil
	}
	// Same error as the informer-backed lister the kube-apiserver uses.
	return nil, apierrors.NewNotFound(rbacv1.Resource("role"), name)
}

func (x *index) ListRoleBindings(_ context.Context, namespace string) ([]*rbacv1.RoleBinding, error) {
	return x.roleBindings[namespace], nil
}

func (x *index) GetClusterRole(ctx context.Context, name string) (*rbacv1.ClusterRole, error) {
	countLookup(ctx)
	if r, ok := x.clusterRoles[name]; ok {
		return r, nil
	}
	return nil, apierrors.NewNotFound(rbacv1.Resource("clusterrole"), name)
}

func (x *index) ListClusterRoleBindings(context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	return x.clusterRoleBindings, nil
}
