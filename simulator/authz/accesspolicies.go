package authz

import (
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// The rules of the EKS managed access policies, transcribed row by row (each table row is one rule, in
// the order of the page) from the Amazon EKS User Guide, "Review access policy permissions":
//
//	https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html
//	source: github.com/awsdocs/amazon-eks-user-guide latest/ug/manage-access/k8s-access/access-policy-reference.adoc
//	(read at commit 145543a96a20b66b1e946cd818943e5aa7713f6c)
//
// EKS cannot be asked for these rules (DescribeAccessPolicy does not exist and ListAccessPolicies returns
// names only), and EKS may change them to track upstream; re-check the page when upgrading.
//
// The tables are evaluated with rbac.RuleAllows, the function the Kubernetes RBAC authorizer uses, so
// wildcards, subresources and resourceNames behave exactly as in a ClusterRole with the same rules.

var (
	verbsRead  = []string{"get", "list", "watch"}
	verbsWrite = []string{"create", "delete", "deletecollection", "patch", "update"}
)

func rule(apiGroup string, resources []string, verbs []string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{apiGroup}, Resources: resources, Verbs: verbs}
}

func res(resources ...string) []string { return resources }

// accessPolicy is one EKS managed access policy.
type accessPolicy struct {
	name  string
	rules []rbacv1.PolicyRule
}

// amazonEKSClusterAdminPolicy: section "AmazonEKSClusterAdminPolicy"
// (#access-policy-permissions-amazoneksclusteradminpolicy). Equivalent to the cluster-admin ClusterRole.
var amazonEKSClusterAdminPolicy = accessPolicy{
	name: "AmazonEKSClusterAdminPolicy",
	rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}},
		{NonResourceURLs: []string{"*"}, Verbs: []string{"*"}},
	},
}

// amazonEKSAdminPolicy: section "AmazonEKSAdminPolicy" (#access-policy-permissions-amazoneksadminpolicy).
// Every rule of AmazonEKSEditPolicy plus localsubjectaccessreviews and roles/rolebindings.
var amazonEKSAdminPolicy = accessPolicy{
	name: "AmazonEKSAdminPolicy",
	rules: []rbacv1.PolicyRule{
		rule("apps", res("daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"), verbsWrite),
		rule("apps", res("controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"), verbsRead),
		rule("authorization.k8s.io", res("localsubjectaccessreviews"), []string{"create"}),
		rule("autoscaling", res("horizontalpodautoscalers"), verbsWrite),
		rule("autoscaling", res("horizontalpodautoscalers", "horizontalpodautoscalers/status"), verbsRead),
		rule("batch", res("cronjobs", "jobs"), verbsWrite),
		rule("batch", res("cronjobs", "cronjobs/status", "jobs", "jobs/status"), verbsRead),
		rule("discovery.k8s.io", res("endpointslices"), verbsRead),
		rule("extensions", res("daemonsets", "deployments", "deployments/rollback", "deployments/scale", "ingresses", "networkpolicies", "replicasets", "replicasets/scale", "replicationcontrollers/scale"), verbsWrite),
		rule("extensions", res("daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "ingresses", "ingresses/status", "networkpolicies", "replicasets", "replicasets/scale", "replicasets/status", "replicationcontrollers/scale"), verbsRead),
		rule("networking.k8s.io", res("ingresses", "ingresses/status", "networkpolicies"), verbsRead),
		rule("networking.k8s.io", res("ingresses", "networkpolicies"), verbsWrite),
		rule("policy", res("poddisruptionbudgets"), verbsWrite),
		rule("policy", res("poddisruptionbudgets", "poddisruptionbudgets/status"), verbsRead),
		rule("rbac.authorization.k8s.io", res("rolebindings", "roles"), []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}),
		rule("", res("configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status"), verbsRead),
		rule("", res("pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"), verbsRead),
		rule("", res("configmaps", "events", "persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"), verbsWrite),
		rule("", res("pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"), verbsWrite),
		rule("", res("serviceaccounts"), []string{"impersonate"}),
		rule("", res("bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status", "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"), verbsRead),
		rule("", res("namespaces"), verbsRead),
	},
}

// amazonEKSAdminViewPolicy: section "AmazonEKSAdminViewPolicy"
// (#access-policy-permissions-amazoneksadminviewpolicy). Read on everything, Secrets included.
var amazonEKSAdminViewPolicy = accessPolicy{
	name: "AmazonEKSAdminViewPolicy",
	rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: verbsRead},
	},
}

// amazonEKSEditPolicy: section "AmazonEKSEditPolicy" (#access-policy-permissions-amazonekseditpolicy).
// No rights on RBAC objects.
var amazonEKSEditPolicy = accessPolicy{
	name: "AmazonEKSEditPolicy",
	rules: []rbacv1.PolicyRule{
		rule("apps", res("daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"), verbsWrite),
		rule("apps", res("controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"), verbsRead),
		rule("autoscaling", res("horizontalpodautoscalers", "horizontalpodautoscalers/status"), verbsRead),
		rule("autoscaling", res("horizontalpodautoscalers"), verbsWrite),
		rule("batch", res("cronjobs", "jobs"), verbsWrite),
		rule("batch", res("cronjobs", "cronjobs/status", "jobs", "jobs/status"), verbsRead),
		rule("discovery.k8s.io", res("endpointslices"), verbsRead),
		rule("extensions", res("daemonsets", "deployments", "deployments/rollback", "deployments/scale", "ingresses", "networkpolicies", "replicasets", "replicasets/scale", "replicationcontrollers/scale"), verbsWrite),
		rule("extensions", res("daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "ingresses", "ingresses/status", "networkpolicies", "replicasets", "replicasets/scale", "replicasets/status", "replicationcontrollers/scale"), verbsRead),
		rule("networking.k8s.io", res("ingresses", "networkpolicies"), verbsWrite),
		rule("networking.k8s.io", res("ingresses", "ingresses/status", "networkpolicies"), verbsRead),
		rule("policy", res("poddisruptionbudgets"), verbsWrite),
		rule("policy", res("poddisruptionbudgets", "poddisruptionbudgets/status"), verbsRead),
		rule("", res("namespaces"), verbsRead),
		rule("", res("pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"), verbsRead),
		rule("", res("serviceaccounts"), []string{"impersonate"}),
		rule("", res("pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"), verbsWrite),
		rule("", res("configmaps", "events", "persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"), verbsWrite),
		rule("", res("configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status"), verbsRead),
		rule("", res("bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status", "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"), verbsRead),
	},
}

// amazonEKSViewPolicy: section "AmazonEKSViewPolicy" (#access-policy-permissions-amazoneksviewpolicy.json).
// Read only, and no Secrets.
var amazonEKSViewPolicy = accessPolicy{
	name: "AmazonEKSViewPolicy",
	rules: []rbacv1.PolicyRule{
		rule("apps", res("controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"), verbsRead),
		rule("autoscaling", res("horizontalpodautoscalers", "horizontalpodautoscalers/status"), verbsRead),
		rule("batch", res("cronjobs", "cronjobs/status", "jobs", "jobs/status"), verbsRead),
		rule("discovery.k8s.io", res("endpointslices"), verbsRead),
		rule("extensions", res("daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "ingresses", "ingresses/status", "networkpolicies", "replicasets", "replicasets/scale", "replicasets/status", "replicationcontrollers/scale"), verbsRead),
		rule("networking.k8s.io", res("ingresses", "ingresses/status", "networkpolicies"), verbsRead),
		rule("policy", res("poddisruptionbudgets", "poddisruptionbudgets/status"), verbsRead),
		rule("", res("configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status"), verbsRead),
		// The page misprints the last resource as "r``esourcequotas/status``"; it is resourcequotas/status.
		rule("", res("bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status", "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"), verbsRead),
		rule("", res("namespaces"), verbsRead),
	},
}

// amazonEKSSecretReaderPolicy: section "AmazonEKSSecretReaderPolicy". Read on core Secrets.
var amazonEKSSecretReaderPolicy = accessPolicy{
	name: "AmazonEKSSecretReaderPolicy",
	rules: []rbacv1.PolicyRule{
		rule("", res("secrets"), verbsRead),
	},
}

var accessPolicies = func() map[string]*accessPolicy {
	m := map[string]*accessPolicy{}
	for _, p := range []*accessPolicy{
		&amazonEKSClusterAdminPolicy,
		&amazonEKSAdminPolicy,
		&amazonEKSAdminViewPolicy,
		&amazonEKSEditPolicy,
		&amazonEKSViewPolicy,
		&amazonEKSSecretReaderPolicy,
	} {
		m[p.name] = p
	}
	return m
}()

// accessPolicyARNInfix is what every access policy ARN contains before the policy name:
// arn:<partition>:eks::aws:cluster-access-policy/<Name>.
const accessPolicyARNInfix = ":eks::aws:cluster-access-policy/"

// policyName accepts a policy name or its ARN (in any partition) and returns the name.
func policyName(nameOrARN string) string {
	if strings.HasPrefix(nameOrARN, "arn:") {
		if i := strings.Index(nameOrARN, accessPolicyARNInfix); i >= 0 {
			return nameOrARN[i+len(accessPolicyARNInfix):]
		}
	}
	return nameOrARN
}

// AccessPolicyRules returns the rules the named EKS managed access policy grants, as transcribed from
// the EKS User Guide. name is a policy name (AmazonEKSViewPolicy) or its ARN
// (arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy). The result is a copy. ok is false for a
// policy whose rules are not modelled (the Auto Mode, hybrid and service-linked-role policies).
func AccessPolicyRules(name string) (rules []rbacv1.PolicyRule, ok bool) {
	p, ok := accessPolicies[policyName(name)]
	if !ok {
		return nil, false
	}
	out := make([]rbacv1.PolicyRule, len(p.rules))
	for i := range p.rules {
		p.rules[i].DeepCopyInto(&out[i])
	}
	return out, true
}

// AccessPolicies returns the names of the access policies whose rules are modelled, sorted.
func AccessPolicies() []string {
	names := make([]string, 0, len(accessPolicies))
	for name := range accessPolicies {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
