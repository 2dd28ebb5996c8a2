package authz

import (
	"fmt"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/auth/rbac/reconciliation"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac/bootstrappolicy"
)

// reconcileBootstrapPolicy does what the kube-apiserver's "rbac/bootstrap-roles" post-start hook does
// (ensureRBACPolicy in k8s.io/kubernetes/pkg/registry/rbac/rest/storage_rbac.go): every default
// ClusterRole, ClusterRoleBinding, Role and RoleBinding is created if missing, and an existing object of
// the same name gets the missing rules, aggregation selectors and subjects added (union), unless it is
// annotated rbac.authorization.kubernetes.io/autoupdate: "false". The reconcile logic itself is the
// upstream k8s.io/component-helpers/auth/rbac/reconciliation code, run against the in-memory store.
//
// The legacy migrations of that hook (primeAggregatedClusterRoles, primeSplitClusterRoleBindings) only
// matter for clusters upgraded from before Kubernetes 1.9/1.14 and are not run.
func (s *store) reconcileBootstrapPolicy() error {
	clusterRoles := append(bootstrappolicy.ClusterRoles(), bootstrappolicy.ControllerRoles()...)
	for i := range clusterRoles {
		opts := reconciliation.ReconcileRoleOptions{
			Role:    reconciliation.ClusterRoleRuleOwner{ClusterRole: &clusterRoles[i]},
			Client:  clusterRoleModifier{s},
			Confirm: true,
		}
		if _, err := opts.Run(); err != nil {
			return fmt.Errorf("failed to reconcile bootstrap ClusterRole %q: %w", clusterRoles[i].Name, err)
		}
	}

	clusterRoleBindings := append(bootstrappolicy.ClusterRoleBindings(), bootstrappolicy.ControllerRoleBindings()...)
	for i := range clusterRoleBindings {
		opts := reconciliation.ReconcileRoleBindingOptions{
			RoleBinding: reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: &clusterRoleBindings[i]},
			Client:      clusterRoleBindingModifier{s},
			Confirm:     true,
		}
		if _, err := opts.Run(); err != nil {
			return fmt.Errorf("failed to reconcile bootstrap ClusterRoleBinding %q: %w", clusterRoleBindings[i].Name, err)
		}
	}

	namespacedRoles := bootstrappolicy.NamespaceRoles()
	for _, ns := range sortedKeys(namespacedRoles) {
		roles := namespacedRoles[ns]
		for i := range roles {
			opts := reconciliation.ReconcileRoleOptions{
				Role:    reconciliation.RoleRuleOwner{Role: &roles[i]},
				Client:  roleModifier{s},
				Confirm: true,
			}
			if _, err := opts.Run(); err != nil {
				return fmt.Errorf("failed to reconcile bootstrap Role %s/%s: %w", ns, roles[i].Name, err)
			}
		}
	}

	namespacedRoleBindings := bootstrappolicy.NamespaceRoleBindings()
	for _, ns := range sortedKeys(namespacedRoleBindings) {
		bindings := namespacedRoleBindings[ns]
		for i := range bindings {
			opts := reconciliation.ReconcileRoleBindingOptions{
				RoleBinding: reconciliation.RoleBindingAdapter{RoleBinding: &bindings[i]},
				Client:      roleBindingModifier{s},
				Confirm:     true,
			}
			if _, err := opts.Run(); err != nil {
				return fmt.Errorf("failed to reconcile bootstrap RoleBinding %s/%s: %w", ns, bindings[i].Name, err)
			}
		}
	}
	return nil
}

// aggregateClusterRoles fills in every ClusterRole that has an aggregationRule, with the semantics of
// kube-controller-manager's clusterrole-aggregation controller (syncClusterRole in
// k8s.io/kubernetes/pkg/controller/clusterroleaggregation): for each selector in order, the matching
// ClusterRoles sorted by name (the role itself excluded) contribute their rules, each rule added once
// (semantic equality). The controller re-syncs every aggregated role whenever any ClusterRole changes, so
// aggregated roles that select other aggregated roles (admin selects edit, edit selects view) converge;
// here the syncs are repeated until nothing changes. The controller's sync is unexported, so its loop
// body is reproduced; TestAggregationMatchesUpstreamController runs the real controller to check it.
//
// It returns, for each aggregated ClusterRole, the name of the non-aggregated ClusterRole each of its
// rules ultimately comes from (parallel to Rules), for explanations.
func (s *store) aggregateClusterRoles() (map[string][]string, error) {
	var aggregated []*rbacv1.ClusterRole
	all := make([]*rbacv1.ClusterRole, 0, len(s.clusterRoles))
	for _, cr := range s.clusterRoles {
		all = append(all, cr)
		if cr.AggregationRule != nil {
			aggregated = append(aggregated, cr)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	sort.Slice(aggregated, func(i, j int) bool { return aggregated[i].Name < aggregated[j].Name })

	origins := map[string][]string{}
	originOf := func(cr *rbacv1.ClusterRole, i int) string {
		if o, ok := origins[cr.Name]; ok && i < len(o) {
			return o[i]
		}
		return cr.Name
	}

	// Each pass can only propagate rules one aggregation level further; a chain cannot be longer than
	// the number of aggregated roles, so more passes than that means the selectors form an oscillating
	// cycle, which the real controller would never settle either.
	maxPasses := len(aggregated) + 2
	for pass := 0; ; pass++ {
		if pass > maxPasses {
			return nil, fmt.Errorf("aggregated ClusterRoles do not converge after %d passes (aggregation rules select each other in a cycle)", maxPasses)
		}
		changed := false
		for _, target := range aggregated {
			newRules := []rbacv1.PolicyRule{}
			var newOrigins []string
			for i := range target.AggregationRule.ClusterRoleSelectors {
				selector, err := metav1.LabelSelectorAsSelector(&target.AggregationRule.ClusterRoleSelectors[i])
				if err != nil {
					return nil, fmt.Errorf("invalid aggregationRule of ClusterRole %q: %w", target.Name, err)
				}
				for _, source := range all {
					if source.Name == target.Name || !selector.Matches(labels.Set(source.Labels)) {
						continue
					}
					for j := range source.Rules {
						if !ruleExists(newRules, source.Rules[j]) {
							newRules = append(newRules, source.Rules[j])
							newOrigins = append(newOrigins, originOf(source, j))
						}
					}
				}
			}
			if equality.Semantic.DeepEqual(newRules, target.Rules) {
				origins[target.Name] = newOrigins
				continue
			}
			target.Rules = newRules
			origins[target.Name] = newOrigins
			changed = true
		}
		if !changed {
			return origins, nil
		}
	}
}

// ruleExists is the clusterrole-aggregation controller's de-duplication test.
func ruleExists(haystack []rbacv1.PolicyRule, needle rbacv1.PolicyRule) bool {
	for _, curr := range haystack {
		if equality.Semantic.DeepEqual(curr, needle) {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
