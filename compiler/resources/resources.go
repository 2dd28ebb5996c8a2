// Package resources resolves what a scenario names ("ConfigMap", "configmaps", "configmap",
// "pods/exec", "deployments.apps", "apps/Deployment") into the group, version, resource, kind
// and scope the API server would use, the way kubectl resolves names through discovery. The
// catalogue is Kubernetes' own built-in scheme (client-go) plus Kyverno's kinds; scopes come
// from a table of the built-in cluster-scoped kinds.
package resources

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// Resource is one resolved resource.
type Resource struct {
	GVR         schema.GroupVersionResource
	GVK         schema.GroupVersionKind
	Subresource string
	Namespaced  bool
}

// String is resource[/subresource][.group], as kubectl and RBAC messages name it.
func (r Resource) String() string {
	s := r.GVR.Resource
	if r.Subresource != "" {
		s += "/" + r.Subresource
	}
	if r.GVR.Group != "" {
		s += "." + r.GVR.Group
	}
	return s
}

// clusterScoped are the built-in kinds that are not namespaced (kubectl api-resources
// --namespaced=false on Kubernetes 1.36), plus Kyverno's cluster-wide policies.
var clusterScoped = map[schema.GroupKind]bool{
	{Kind: "Namespace"}: true, {Kind: "Node"}: true, {Kind: "PersistentVolume"}: true, {Kind: "ComponentStatus"}: true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}: true, {Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}: true, {Group: "storage.k8s.io", Kind: "CSIDriver"}: true,
	{Group: "storage.k8s.io", Kind: "CSINode"}: true, {Group: "storage.k8s.io", Kind: "VolumeAttachment"}: true,
	{Group: "storage.k8s.io", Kind: "VolumeAttributesClass"}:                          true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:                               true,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:                 true,
	{Group: "apiregistration.k8s.io", Kind: "APIService"}:                             true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:     true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}:   true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicy"}:          true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicyBinding"}:   true,
	{Group: "certificates.k8s.io", Kind: "CertificateSigningRequest"}:                 true,
	{Group: "certificates.k8s.io", Kind: "ClusterTrustBundle"}:                        true,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                                true, {Group: "networking.k8s.io", Kind: "IPAddress"}: true,
	{Group: "networking.k8s.io", Kind: "ServiceCIDR"}:                           true,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:                                true,
	{Group: "flowcontrol.apiserver.k8s.io", Kind: "FlowSchema"}:                 true,
	{Group: "flowcontrol.apiserver.k8s.io", Kind: "PriorityLevelConfiguration"}: true,
	{Group: "authentication.k8s.io", Kind: "TokenReview"}:                       true, {Group: "authentication.k8s.io", Kind: "SelfSubjectReview"}: true,
	{Group: "authorization.k8s.io", Kind: "SubjectAccessReview"}:     true,
	{Group: "authorization.k8s.io", Kind: "SelfSubjectAccessReview"}: true,
	{Group: "authorization.k8s.io", Kind: "SelfSubjectRulesReview"}:  true,
	{Group: "resource.k8s.io", Kind: "DeviceClass"}:                  true, {Group: "resource.k8s.io", Kind: "ResourceSlice"}: true,
	{Group: "storagemigration.k8s.io", Kind: "StorageVersionMigration"}: true,
	{Group: "internal.apiserver.k8s.io", Kind: "StorageVersion"}:        true,
	{Group: "kyverno.io", Kind: "ClusterPolicy"}:                        true, {Group: "kyverno.io", Kind: "ClusterCleanupPolicy"}: true,
	{Group: "policies.kyverno.io", Kind: "ValidatingPolicy"}: true, {Group: "policies.kyverno.io", Kind: "MutatingPolicy"}: true,
	{Group: "policies.kyverno.io", Kind: "GeneratingPolicy"}: true, {Group: "policies.kyverno.io", Kind: "ImageValidatingPolicy"}: true,
	{Group: "policies.kyverno.io", Kind: "DeletingPolicy"}: true,
	{Group: "wgpolicyk8s.io", Kind: "ClusterPolicyReport"}: true,
}

// extra are kinds outside client-go's scheme that scenarios name.
var extra = []schema.GroupVersionKind{
	{Group: "kyverno.io", Version: "v1", Kind: "ClusterPolicy"},
	{Group: "kyverno.io", Version: "v1", Kind: "Policy"},
	{Group: "policies.kyverno.io", Version: "v1", Kind: "ValidatingPolicy"},
	{Group: "policies.kyverno.io", Version: "v1", Kind: "NamespacedValidatingPolicy"},
	{Group: "policies.kyverno.io", Version: "v1", Kind: "MutatingPolicy"},
	{Group: "policies.kyverno.io", Version: "v1", Kind: "GeneratingPolicy"},
	{Group: "policies.kyverno.io", Version: "v1", Kind: "DeletingPolicy"},
	{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"},
	{Group: "apiregistration.k8s.io", Version: "v1", Kind: "APIService"},
}

type entry struct {
	gvk schema.GroupVersionKind
	gvr schema.GroupVersionResource
}

var (
	once    sync.Once
	entries []entry
)

// build collects one entry per group/kind, at the preferred (highest priority) version.
func build() {
	byGK := map[schema.GroupKind]schema.GroupVersionKind{}
	add := func(gvk schema.GroupVersionKind) {
		if strings.HasSuffix(gvk.Kind, "List") || strings.HasSuffix(gvk.Kind, "Options") || gvk.Version == "__internal" ||
			gvk.Kind == "WatchEvent" || gvk.Kind == "Status" || gvk.Kind == "APIGroup" || gvk.Kind == "APIVersions" ||
			gvk.Kind == "APIResourceList" || gvk.Kind == "APIGroupList" || gvk.Kind == "Eviction" && gvk.Group == "policy" ||
			gvk.Kind == "Scale" || gvk.Kind == "Binding" || gvk.Kind == "TokenRequest" ||
			gvk.Group == "extensions" { // no longer served (Kubernetes 1.22)
			return
		}
		gk := gvk.GroupKind()
		prev, ok := byGK[gk]
		if !ok || versionPriority(gvk.Version) > versionPriority(prev.Version) {
			byGK[gk] = gvk
		}
	}
	for gvk := range scheme.Scheme.AllKnownTypes() {
		add(gvk)
	}
	for _, gvk := range extra {
		add(gvk)
	}
	for _, gvk := range byGK {
		gvr, _ := meta.UnsafeGuessKindToResource(gvk)
		entries = append(entries, entry{gvk: gvk, gvr: gvr})
	}
	sort.Slice(entries, func(i, j int) bool { // core first, then by group, then kind: stable lookups
		a, b := entries[i].gvk, entries[j].gvk
		if (a.Group == "") != (b.Group == "") {
			return a.Group == ""
		}
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return a.Kind < b.Kind
	})
}

// versionPriority orders v1 > v1beta2 > v1beta1 > v1alpha1, as Kubernetes prefers versions.
func versionPriority(v string) int {
	var major, minor int
	var tier string
	if n, _ := fmt.Sscanf(v, "v%d%s", &major, &tier); n == 0 {
		return 0
	}
	p := major * 1000
	switch {
	case strings.HasPrefix(tier, "beta"):
		fmt.Sscanf(tier, "beta%d", &minor)
		p -= 500 - minor
	case strings.HasPrefix(tier, "alpha"):
		fmt.Sscanf(tier, "alpha%d", &minor)
		p -= 900 - minor
	}
	return p
}

// apiVersion is the version part of resource.version.group.
var apiVersion = regexp.MustCompile(`^v[0-9]+((alpha|beta)[0-9]+)?\.`)

// shortNames are the short names the Kubernetes 1.36 API server (the ShortNames of its
// registries, as kubectl api-resources lists them) and Kyverno's CRDs declare; kubectl resolves
// them from discovery, which an offline catalogue does not have.
var shortNames = map[string]schema.GroupResource{
	"cm": {Resource: "configmaps"}, "cs": {Resource: "componentstatuses"}, "ep": {Resource: "endpoints"},
	"ev": {Resource: "events"}, "limits": {Resource: "limitranges"}, "ns": {Resource: "namespaces"},
	"no": {Resource: "nodes"}, "pvc": {Resource: "persistentvolumeclaims"}, "pv": {Resource: "persistentvolumes"},
	"po": {Resource: "pods"}, "rc": {Resource: "replicationcontrollers"}, "quota": {Resource: "resourcequotas"},
	"sa": {Resource: "serviceaccounts"}, "svc": {Resource: "services"},
	"crd": {Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"}, "crds": {Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"},
	"ds": {Group: "apps", Resource: "daemonsets"}, "deploy": {Group: "apps", Resource: "deployments"},
	"rs": {Group: "apps", Resource: "replicasets"}, "sts": {Group: "apps", Resource: "statefulsets"},
	"hpa": {Group: "autoscaling", Resource: "horizontalpodautoscalers"}, "cj": {Group: "batch", Resource: "cronjobs"},
	"csr": {Group: "certificates.k8s.io", Resource: "certificatesigningrequests"},
	"ing": {Group: "networking.k8s.io", Resource: "ingresses"}, "netpol": {Group: "networking.k8s.io", Resource: "networkpolicies"},
	"pdb": {Group: "policy", Resource: "poddisruptionbudgets"}, "pc": {Group: "scheduling.k8s.io", Resource: "priorityclasses"},
	"sc":   {Group: "storage.k8s.io", Resource: "storageclasses"},
	"cpol": {Group: "kyverno.io", Resource: "clusterpolicies"}, "pol": {Group: "kyverno.io", Resource: "policies"},
}

// Lookup resolves a name the way kubectl does: a kind (ConfigMap), a resource (configmaps),
// its singular (configmap), optionally qualified by group (deployments.apps, apps/Deployment),
// optionally with a subresource (pods/exec).
func Lookup(name string) (Resource, error) {
	once.Do(build)
	orig := name
	var sub, group string
	if g, k, ok := strings.Cut(name, "/"); ok && k != "" && k[0] >= 'A' && k[0] <= 'Z' {
		group, name = g, k // apps/Deployment
	} else if r, s, ok := strings.Cut(name, "/"); ok {
		name, sub = r, s // pods/exec
	}
	if group == "" {
		if r, g, ok := strings.Cut(name, "."); ok {
			name, group = r, g // deployments.apps
			if v := apiVersion.FindString(group); v != "" {
				group = strings.TrimPrefix(group, v) // deployments.v1.apps
			}
		}
	}
	lower := strings.ToLower(name)
	if gr, ok := shortNames[lower]; ok && (group == "" || group == gr.Group) {
		lower, group = gr.Resource, gr.Group // cm, deploy.apps
		name = lower
	}
	var matches []entry
	for _, e := range entries {
		if group != "" && e.gvk.Group != group && !strings.HasPrefix(e.gvk.Group, group+".") {
			continue
		}
		singular := strings.ToLower(e.gvk.Kind)
		if e.gvk.Kind == name || lower == singular || lower == e.gvr.Resource {
			matches = append(matches, e)
		}
	}
	if len(matches) == 0 {
		return Resource{}, fmt.Errorf("the server doesn't have a resource type %q", orig)
	}
	// kubectl prefers the core group, then the first group alphabetically; so do we (the
	// entries are sorted that way), but say nothing when the name is ambiguous across groups
	// only through aliases of other groups: a qualified name always resolves exactly.
	m := matches[0]
	return Resource{
		GVR:         m.gvr,
		GVK:         m.gvk,
		Subresource: sub,
		Namespaced:  !clusterScoped[m.gvk.GroupKind()],
	}, nil
}

// ForKind resolves a group/version/kind (from a manifest).
func ForKind(gvk schema.GroupVersionKind) (Resource, error) {
	name := gvk.Kind
	if gvk.Group != "" {
		name = gvk.Group + "/" + gvk.Kind
	}
	r, err := Lookup(name)
	if err != nil {
		return r, err
	}
	if gvk.Version != "" {
		r.GVK.Version, r.GVR.Version = gvk.Version, gvk.Version
	}
	return r, nil
}

// Kinds returns every known kind, as Kind for the core group and group/Kind otherwise, sorted.
func Kinds() []string {
	once.Do(build)
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.gvk.Group == "" {
			out = append(out, e.gvk.Kind)
		} else {
			out = append(out, e.gvk.Group+"/"+e.gvk.Kind)
		}
	}
	sort.Strings(out)
	return out
}

// KnownGroup reports whether the API group is one of the catalogue's (built-in or Kyverno's);
// kinds of other groups are custom resources it cannot check.
func KnownGroup(group string) bool {
	once.Do(build)
	for _, e := range entries {
		if e.gvk.Group == group {
			return true
		}
	}
	return false
}

// ConnectSubresources are the subresources that take CONNECT requests (exec, attach,
// port-forward, proxy), by resource.
var ConnectSubresources = map[schema.GroupResource][]string{
	{Resource: "pods"}:     {"attach", "exec", "portforward", "proxy"},
	{Resource: "services"}: {"proxy"},
	{Resource: "nodes"}:    {"proxy"},
}

// ConnectOptionsKind is the kind of a CONNECT request's object: what the API server sends
// admission for pods/exec (PodExecOptions) and the like.
func ConnectOptionsKind(gr schema.GroupResource, subresource string) (schema.GroupVersionKind, bool) {
	kinds := map[string]string{"pods/exec": "PodExecOptions", "pods/attach": "PodAttachOptions", "pods/portforward": "PodPortForwardOptions",
		"pods/proxy": "PodProxyOptions", "services/proxy": "ServiceProxyOptions", "nodes/proxy": "NodeProxyOptions"}
	if gr.Group != "" {
		return schema.GroupVersionKind{}, false
	}
	k, ok := kinds[gr.Resource+"/"+subresource]
	return schema.GroupVersionKind{Version: "v1", Kind: k}, ok
}
