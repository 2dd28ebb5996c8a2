package kyverno

import "k8s.io/apimachinery/pkg/runtime/schema"

// SetPrefilter turns the prefilter off (or back on) so that tests can check it never changes a verdict.
func SetPrefilter(e *Engine, on bool) { e.noPrefilter = !on }

// ToFilter returns what the engine's own resourceFilters matching and Kyverno's pkg/config say.
func ToFilter(e *Engine, gvk schema.GroupVersionKind, subresource, namespace, name string) (mine, kyverno bool) {
	_, mine = e.cfg.toFilter(gvk, subresource, namespace, name)
	return mine, e.cfg.cfg.ToFilter(gvk, subresource, namespace, name)
}
