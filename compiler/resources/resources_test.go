package resources_test

import (
	"testing"

	"guardrail.dev/guardrail/compiler/resources"
)

func TestLookup(t *testing.T) {
	cases := []struct {
		name, want  string // want: group/version/resource kind sub namespaced
		kind, sub   string
		namespaced  bool
		group, vers string
	}{
		{name: "ConfigMap", want: "configmaps", kind: "ConfigMap", namespaced: true, vers: "v1"},
		{name: "configmaps", want: "configmaps", kind: "ConfigMap", namespaced: true, vers: "v1"},
		{name: "configmap", want: "configmaps", kind: "ConfigMap", namespaced: true, vers: "v1"},
		{name: "pods/exec", want: "pods", kind: "Pod", sub: "exec", namespaced: true, vers: "v1"},
		{name: "deployments.apps", want: "deployments", kind: "Deployment", namespaced: true, group: "apps", vers: "v1"},
		{name: "apps/Deployment", want: "deployments", kind: "Deployment", namespaced: true, group: "apps", vers: "v1"},
		{name: "deployments/scale", want: "deployments", kind: "Deployment", sub: "scale", namespaced: true, group: "apps", vers: "v1"},
		{name: "Namespace", want: "namespaces", kind: "Namespace", vers: "v1"},
		{name: "nodes", want: "nodes", kind: "Node", vers: "v1"},
		{name: "clusterroles", want: "clusterroles", kind: "ClusterRole", group: "rbac.authorization.k8s.io", vers: "v1"},
		{name: "rolebindings", want: "rolebindings", kind: "RoleBinding", namespaced: true, group: "rbac.authorization.k8s.io", vers: "v1"},
		{name: "secrets", want: "secrets", kind: "Secret", namespaced: true, vers: "v1"},
		{name: "ingresses", want: "ingresses", kind: "Ingress", namespaced: true, group: "networking.k8s.io", vers: "v1"},
		{name: "networkpolicies", want: "networkpolicies", kind: "NetworkPolicy", namespaced: true, group: "networking.k8s.io", vers: "v1"},
		{name: "cronjobs", want: "cronjobs", kind: "CronJob", namespaced: true, group: "batch", vers: "v1"},
		{name: "endpoints", want: "endpoints", kind: "Endpoints", namespaced: true, vers: "v1"},
		{name: "clusterpolicies", want: "clusterpolicies", kind: "ClusterPolicy", group: "kyverno.io", vers: "v1"},
		{name: "validatingpolicies", want: "validatingpolicies", kind: "ValidatingPolicy", group: "policies.kyverno.io", vers: "v1"},
		// kubectl's short names and resource.version.group.
		{name: "cm", want: "configmaps", kind: "ConfigMap", namespaced: true, vers: "v1"},
		{name: "svc", want: "services", kind: "Service", namespaced: true, vers: "v1"},
		{name: "ns", want: "namespaces", kind: "Namespace", vers: "v1"},
		{name: "deploy", want: "deployments", kind: "Deployment", namespaced: true, group: "apps", vers: "v1"},
		{name: "deploy.apps", want: "deployments", kind: "Deployment", namespaced: true, group: "apps", vers: "v1"},
		{name: "deployments.v1.apps", want: "deployments", kind: "Deployment", namespaced: true, group: "apps", vers: "v1"},
		{name: "hpa", want: "horizontalpodautoscalers", kind: "HorizontalPodAutoscaler", namespaced: true, group: "autoscaling", vers: "v2"},
		{name: "ing", want: "ingresses", kind: "Ingress", namespaced: true, group: "networking.k8s.io", vers: "v1"},
		{name: "crd", want: "customresourcedefinitions", kind: "CustomResourceDefinition", group: "apiextensions.k8s.io", vers: "v1"},
		{name: "po/exec", want: "pods", kind: "Pod", sub: "exec", namespaced: true, vers: "v1"},
		{name: "cpol", want: "clusterpolicies", kind: "ClusterPolicy", group: "kyverno.io", vers: "v1"},
	}
	for _, c := range cases {
		r, err := resources.Lookup(c.name)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if r.GVR.Resource != c.want || r.GVK.Kind != c.kind || r.Subresource != c.sub || r.Namespaced != c.namespaced || r.GVR.Group != c.group || r.GVR.Version != c.vers {
			t.Errorf("%s: got %+v", c.name, r)
		}
	}
	if _, err := resources.Lookup("widgets"); err == nil || err.Error() != `the server doesn't have a resource type "widgets"` {
		t.Errorf("unknown resource: %v", err)
	}
}
