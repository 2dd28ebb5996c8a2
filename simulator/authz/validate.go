package authz

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
	rbacapi "k8s.io/kubernetes/pkg/apis/rbac"
	rbacv1helpers "k8s.io/kubernetes/pkg/apis/rbac/v1"
	rbacvalidation "k8s.io/kubernetes/pkg/apis/rbac/validation"
)

// load copies the user's objects into the store, defaulted and validated as the API server would on
// create (k8s.io/kubernetes/pkg/apis/rbac/v1 defaults, k8s.io/kubernetes/pkg/apis/rbac/validation), and
// returns every problem found.
func (s *store) load(objs RBACObjects) []error {
	var errs []error
	fail := func(kind, id string, list field.ErrorList) {
		if len(list) > 0 {
			errs = append(errs, fmt.Errorf("invalid %s %s: %w", kind, id, list.ToAggregate()))
		}
	}
	duplicate := func(kind, id string) {
		errs = append(errs, fmt.Errorf("duplicate %s %s", kind, id))
	}

	for i := range objs.ClusterRoles {
		cr := objs.ClusterRoles[i].DeepCopy()
		cr.Namespace = "" // the API server clears the namespace of cluster-scoped objects
		var internal rbacapi.ClusterRole
		if err := rbacv1helpers.Convert_v1_ClusterRole_To_rbac_ClusterRole(cr, &internal, nil); err != nil {
			errs = append(errs, fmt.Errorf("failed to convert ClusterRole %q: %w", cr.Name, err))
			continue
		}
		fail("ClusterRole", fmt.Sprintf("%q", cr.Name), rbacvalidation.ValidateClusterRole(&internal, rbacvalidation.ClusterRoleValidationOptions{}))
		if _, ok := s.clusterRoles[cr.Name]; ok {
			duplicate("ClusterRole", fmt.Sprintf("%q", cr.Name))
		}
		s.clusterRoles[cr.Name] = cr
	}

	for i := range objs.Roles {
		r := objs.Roles[i].DeepCopy()
		id := fmt.Sprintf("%s/%s", r.Namespace, r.Name)
		var internal rbacapi.Role
		if err := rbacv1helpers.Convert_v1_Role_To_rbac_Role(r, &internal, nil); err != nil {
			errs = append(errs, fmt.Errorf("failed to convert Role %s: %w", id, err))
			continue
		}
		fail("Role", id, rbacvalidation.ValidateRole(&internal))
		k := nsName{r.Namespace, r.Name}
		if _, ok := s.roles[k]; ok {
			duplicate("Role", id)
		}
		s.roles[k] = r
	}

	for i := range objs.ClusterRoleBindings {
		b := objs.ClusterRoleBindings[i].DeepCopy()
		b.Namespace = ""
		rbacv1helpers.SetObjectDefaults_ClusterRoleBinding(b)
		var internal rbacapi.ClusterRoleBinding
		if err := rbacv1helpers.Convert_v1_ClusterRoleBinding_To_rbac_ClusterRoleBinding(b, &internal, nil); err != nil {
			errs = append(errs, fmt.Errorf("failed to convert ClusterRoleBinding %q: %w", b.Name, err))
			continue
		}
		fail("ClusterRoleBinding", fmt.Sprintf("%q", b.Name), rbacvalidation.ValidateClusterRoleBinding(&internal))
		if _, ok := s.clusterRoleBindings[b.Name]; ok {
			duplicate("ClusterRoleBinding", fmt.Sprintf("%q", b.Name))
		}
		s.clusterRoleBindings[b.Name] = b
	}

	for i := range objs.RoleBindings {
		b := objs.RoleBindings[i].DeepCopy()
		id := fmt.Sprintf("%s/%s", b.Namespace, b.Name)
		rbacv1helpers.SetObjectDefaults_RoleBinding(b)
		var internal rbacapi.RoleBinding
		if err := rbacv1helpers.Convert_v1_RoleBinding_To_rbac_RoleBinding(b, &internal, nil); err != nil {
			errs = append(errs, fmt.Errorf("failed to convert RoleBinding %s: %w", id, err))
			continue
		}
		fail("RoleBinding", id, rbacvalidation.ValidateRoleBinding(&internal))
		k := nsName{b.Namespace, b.Name}
		if _, ok := s.roleBindings[k]; ok {
			duplicate("RoleBinding", id)
		}
		s.roleBindings[k] = b
	}
	return errs
}
