package kyverno

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	kubeutils "github.com/kyverno/kyverno/pkg/utils/kube"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	kconfig "github.com/kyverno/kyverno/pkg/config"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// DefaultResourceFilters is the resourceFilters value of the "kyverno" ConfigMap that the Kyverno 1.19
// Helm chart renders for a release named "kyverno" in namespace "kyverno" with default values
// (config.resourceFilters with config.excludeKyvernoNamespace=true, which prepends [*/*,kyverno,*]).
// Copied from config/install-latest-testing.yaml of github.com/kyverno/kyverno@v1.19.1, which is
// that rendering; the chart folds the entries into one line separated by spaces.
const DefaultResourceFilters = "[*/*,kyverno,*] [Event,*,*] [*/*,kube-system,*] [*/*,kube-public,*] " +
	"[*/*,kube-node-lease,*] [Node,*,*] [Node/?*,*,*] [APIService,*,*] [APIService/?*,*,*] " +
	"[TokenReview,*,*] [SubjectAccessReview,*,*] [SelfSubjectAccessReview,*,*] [Binding,*,*] " +
	"[Pod/binding,*,*] [ReplicaSet,*,*] [ReplicaSet/?*,*,*] [EphemeralReport,*,*] [ClusterEphemeralReport,*,*] " +
	"[ClusterRole,*,kyverno:admission-controller] [ClusterRole,*,kyverno:admission-controller:core] " +
	"[ClusterRole,*,kyverno:admission-controller:additional] [ClusterRole,*,kyverno:background-controller] " +
	"[ClusterRole,*,kyverno:background-controller:core] [ClusterRole,*,kyverno:background-controller:additional] " +
	"[ClusterRole,*,kyverno:cleanup-controller] [ClusterRole,*,kyverno:cleanup-controller:core] " +
	"[ClusterRole,*,kyverno:cleanup-controller:additional] [ClusterRole,*,kyverno:reports-controller] " +
	"[ClusterRole,*,kyverno:reports-controller:core] [ClusterRole,*,kyverno:reports-controller:additional] " +
	"[ClusterRoleBinding,*,kyverno:admission-controller] [ClusterRoleBinding,*,kyverno:background-controller] " +
	"[ClusterRoleBinding,*,kyverno:cleanup-controller] [ClusterRoleBinding,*,kyverno:reports-controller] " +
	"[ServiceAccount,kyverno,kyverno-admission-controller] [ServiceAccount/?*,kyverno,kyverno-admission-controller] " +
	"[ServiceAccount,kyverno,kyverno-background-controller] [ServiceAccount/?*,kyverno,kyverno-background-controller] " +
	"[ServiceAccount,kyverno,kyverno-cleanup-controller] [ServiceAccount/?*,kyverno,kyverno-cleanup-controller] " +
	"[ServiceAccount,kyverno,kyverno-reports-controller] [ServiceAccount/?*,kyverno,kyverno-reports-controller] " +
	"[Role,kyverno,kyverno:admission-controller] [Role,kyverno,kyverno:background-controller] " +
	"[Role,kyverno,kyverno:cleanup-controller] [Role,kyverno,kyverno:reports-controller] " +
	"[RoleBinding,kyverno,kyverno:admission-controller] [RoleBinding,kyverno,kyverno:background-controller] " +
	"[RoleBinding,kyverno,kyverno:cleanup-controller] [RoleBinding,kyverno,kyverno:reports-controller] " +
	"[ConfigMap,kyverno,kyverno] [ConfigMap,kyverno,kyverno-metrics] " +
	"[Deployment,kyverno,kyverno-admission-controller] [Deployment/?*,kyverno,kyverno-admission-controller] " +
	"[Deployment,kyverno,kyverno-background-controller] [Deployment/?*,kyverno,kyverno-background-controller] " +
	"[Deployment,kyverno,kyverno-cleanup-controller] [Deployment/?*,kyverno,kyverno-cleanup-controller] " +
	"[Deployment,kyverno,kyverno-reports-controller] [Deployment/?*,kyverno,kyverno-reports-controller] " +
	"[Pod,kyverno,kyverno-admission-controller-*] [Pod/?*,kyverno,kyverno-admission-controller-*] " +
	"[Pod,kyverno,kyverno-background-controller-*] [Pod/?*,kyverno,kyverno-background-controller-*] " +
	"[Pod,kyverno,kyverno-cleanup-controller-*] [Pod/?*,kyverno,kyverno-cleanup-controller-*] " +
	"[Pod,kyverno,kyverno-reports-controller-*] [Pod/?*,kyverno,kyverno-reports-controller-*] " +
	"[Job,kyverno,kyverno-hook-pre-delete] [Job/?*,kyverno,kyverno-hook-pre-delete] " +
	"[NetworkPolicy,kyverno,kyverno-admission-controller] [NetworkPolicy/?*,kyverno,kyverno-admission-controller] " +
	"[NetworkPolicy,kyverno,kyverno-background-controller] [NetworkPolicy/?*,kyverno,kyverno-background-controller] " +
	"[NetworkPolicy,kyverno,kyverno-cleanup-controller] [NetworkPolicy/?*,kyverno,kyverno-cleanup-controller] " +
	"[NetworkPolicy,kyverno,kyverno-reports-controller] [NetworkPolicy/?*,kyverno,kyverno-reports-controller] " +
	"[PodDisruptionBudget,kyverno,kyverno-admission-controller] [PodDisruptionBudget/?*,kyverno,kyverno-admission-controller] " +
	"[PodDisruptionBudget,kyverno,kyverno-background-controller] [PodDisruptionBudget/?*,kyverno,kyverno-background-controller] " +
	"[PodDisruptionBudget,kyverno,kyverno-cleanup-controller] [PodDisruptionBudget/?*,kyverno,kyverno-cleanup-controller] " +
	"[PodDisruptionBudget,kyverno,kyverno-reports-controller] [PodDisruptionBudget/?*,kyverno,kyverno-reports-controller] " +
	"[Service,kyverno,kyverno-svc] [Service/?*,kyverno,kyverno-svc] " +
	"[Service,kyverno,kyverno-svc-metrics] [Service/?*,kyverno,kyverno-svc-metrics] " +
	"[Service,kyverno,kyverno-background-controller-metrics] [Service/?*,kyverno,kyverno-background-controller-metrics] " +
	"[Service,kyverno,kyverno-cleanup-controller] [Service/?*,kyverno,kyverno-cleanup-controller] " +
	"[Service,kyverno,kyverno-cleanup-controller-metrics] [Service/?*,kyverno,kyverno-cleanup-controller-metrics] " +
	"[Service,kyverno,kyverno-reports-controller-metrics] [Service/?*,kyverno,kyverno-reports-controller-metrics] " +
	"[ServiceMonitor,kyverno,kyverno-admission-controller] [ServiceMonitor,kyverno,kyverno-background-controller] " +
	"[ServiceMonitor,kyverno,kyverno-cleanup-controller] [ServiceMonitor,kyverno,kyverno-reports-controller] " +
	"[Secret,kyverno,kyverno-svc.kyverno.svc.*] [Secret,kyverno,kyverno-cleanup-controller.kyverno.svc.*]"

// ResourceFiltersNone, as Config.ResourceFilters, turns resourceFilters off. Kyverno reads the value
// as a list of [kind,namespace,name] entries and finds none in it.
const ResourceFiltersNone = "none"

// DefaultExcludeGroups returns config.excludeGroups of the Helm chart: system:nodes.
func DefaultExcludeGroups() []string { return []string{"system:nodes"} }

// DefaultWebhookNamespaceSelector returns the namespaceSelector that a default install puts on every
// resource webhook (config.webhooks plus the Kyverno namespace, from config.excludeKyvernoNamespace):
// requests for objects in kube-system or kyverno never reach Kyverno.
func DefaultWebhookNamespaceSelector() *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system"}},
		{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kyverno"}},
	}}
}

// Config is the part of Kyverno's configuration (the "kyverno" ConfigMap) that decides which admission
// requests are evaluated at all. The zero value mimics a default Helm install of Kyverno 1.19 into the
// namespace "kyverno".
type Config struct {
	// Bare starts from an empty Kyverno configuration, which is what `kyverno apply` and `kyverno test`
	// use: no resourceFilters, no excludeGroups, no webhook namespaceSelector. Fields set explicitly
	// below still apply.
	Bare bool

	// ResourceFilters is the resourceFilters value, "[Kind,Namespace,Name]" entries ("[Kind/Subresource,
	// ...]" and "group/version/Kind" forms too; wildcards allowed). "" means DefaultResourceFilters
	// (nothing when Bare); ResourceFiltersNone turns them off.
	ResourceFilters string

	// ExcludeGroups, ExcludeUsernames, ExcludeRoles and ExcludeClusterRoles are the exclusion lists
	// (wildcards allowed; an entry "!x" re-includes x, as in Kyverno). A request whose user matches any
	// of them is not evaluated. nil ExcludeGroups means DefaultExcludeGroups() (nothing when Bare); an
	// empty non-nil slice means none. The others default to none.
	ExcludeGroups       []string
	ExcludeUsernames    []string
	ExcludeRoles        []string
	ExcludeClusterRoles []string

	// WebhookNamespaceSelector is the namespaceSelector of Kyverno's webhook configurations: the API
	// server does not send requests for objects in namespaces it does not select. nil means
	// DefaultWebhookNamespaceSelector() (nothing when Bare); &metav1.LabelSelector{} selects everything.
	WebhookNamespaceSelector *metav1.LabelSelector
}

var quietOnce sync.Once

// quiet does what the Kyverno CLI does: Kyverno logs through controller-runtime's process-wide logger,
// which is set to discard. controller-runtime keeps the first logger it is given, so a program that
// wants Kyverno's logs sets its own (sigs.k8s.io/controller-runtime/pkg/log.SetLogger) before the
// first ParsePolicy. Left unset, controller-runtime would print a "log.SetLogger(...) was never
// called" stack trace after 30 seconds.
func quiet() {
	quietOnce.Do(func() { ctrllog.SetLogger(logr.Discard()) })
}

// filterEntryRegex is the regular expression pkg/config uses to split resourceFilters.
var filterEntryRegex = regexp.MustCompile(`\[([^\[\]]*)\]`)

// kyvernoConfig is the loaded Kyverno configuration plus what is needed to explain an exclusion.
type kyvernoConfig struct {
	cfg kconfig.Configuration
	// filters are the resourceFilters entries, parsed once; toFilter is cfg.ToFilter on them.
	filters []resourceFilter
	// exclusions holds one configuration per exclusion list, only used to name the list that excluded
	// a request.
	exclusions []namedConfig
	nsSelector labels.Selector // nil: no webhook namespaceSelector
}

// resourceFilter is one resourceFilters entry as pkg/config parses it (parseKinds, newFilter).
type resourceFilter struct {
	entry                                      string
	group, version, kind, sub, namespace, name pattern
}

// parseResourceFilters is pkg/config.parseKinds, keeping each entry's text.
func parseResourceFilters(in string) []resourceFilter {
	var out []resourceFilter
	var f resourceFilter
	for _, entry := range filterEntryRegex.FindAllString(in, -1) {
		elements := strings.Split(strings.Trim(strings.Trim(entry, "["), "]"), ",")
		switch len(elements) {
		case 3:
			f = newResourceFilter(entry, elements[0], elements[1], elements[2])
		case 2:
			f = newResourceFilter(entry, elements[0], elements[1], "")
		case 1:
			f = newResourceFilter(entry, elements[0], "", "")
		}
		// with more than 3 elements Kyverno appends the previous entry again
		out = append(out, f)
	}
	return out
}

func newResourceFilter(entry, kind, namespace, name string) resourceFilter {
	if kind == "" {
		return resourceFilter{entry: entry}
	}
	g, v, k, s := kubeutils.ParseKindSelector(kind)
	return resourceFilter{
		entry: entry, group: newPattern(g), version: newPattern(v), kind: newPattern(k), sub: newPattern(s),
		namespace: newPattern(namespace), name: newPattern(name),
	}
}

// toFilter is pkg/config.(*configuration).ToFilter; it returns the entry that matched.
func (kc *kyvernoConfig) toFilter(gvk schema.GroupVersionKind, subresource, namespace, name string) (string, bool) {
	for i := range kc.filters {
		f := &kc.filters[i]
		if f.group.match(gvk.Group) && f.version.match(gvk.Version) && f.kind.match(gvk.Kind) && f.sub.match(subresource) {
			if f.namespace.match(namespace) && f.name.match(name) {
				return f.entry, true
			}
			// [Namespace,kube-system,*] || [*,kube-system,*]
			if gvk.Group == "" && gvk.Version == "v1" && gvk.Kind == "Namespace" && f.namespace.match(name) {
				return f.entry, true
			}
		}
	}
	return "", false
}

type namedConfig struct {
	name string
	cfg  kconfig.Configuration
}

func loadConfig(data map[string]string) kconfig.Configuration {
	cfg := kconfig.NewDefaultConfiguration(false)
	cfg.Load(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kyverno", Namespace: "kyverno"}, Data: data})
	return cfg
}

func (c Config) build() (*kyvernoConfig, error) {
	filters := c.ResourceFilters
	if filters == "" && !c.Bare {
		filters = DefaultResourceFilters
	}
	groups := c.ExcludeGroups
	if groups == nil && !c.Bare {
		groups = DefaultExcludeGroups()
	}
	selector := c.WebhookNamespaceSelector
	if selector == nil && !c.Bare {
		selector = DefaultWebhookNamespaceSelector()
	}
	var nsSelector labels.Selector
	if selector != nil {
		var err error
		if nsSelector, err = metav1.LabelSelectorAsSelector(selector); err != nil {
			return nil, fmt.Errorf("webhook namespaceSelector: %w", err)
		}
	}
	data := map[string]string{}
	if filters != "" {
		data["resourceFilters"] = filters
	}
	lists := []struct {
		key    string
		values []string
	}{
		{"excludeGroups", groups},
		{"excludeUsernames", c.ExcludeUsernames},
		{"excludeRoles", c.ExcludeRoles},
		{"excludeClusterRoles", c.ExcludeClusterRoles},
	}
	kc := &kyvernoConfig{nsSelector: nsSelector}
	for _, l := range lists {
		if len(l.values) == 0 {
			continue
		}
		v := strings.Join(l.values, ",")
		data[l.key] = v
		kc.exclusions = append(kc.exclusions, namedConfig{
			name: fmt.Sprintf("%s %q", l.key, v),
			cfg:  loadConfig(map[string]string{l.key: v}),
		})
	}
	if selector != nil {
		raw, err := json.Marshal(map[string]any{"namespaceSelector": selector})
		if err != nil {
			return nil, err
		}
		data["webhooks"] = string(raw)
	}
	kc.cfg = loadConfig(data)
	kc.filters = parseResourceFilters(filters)
	return kc, nil
}
