package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"guardrail.dev/guardrail/compiler/kyverno"
)

// Decode reads a YAML or JSON stream of objects (empty documents skipped); name is the
// stream's name for errors. Every object must have an apiVersion and a kind.
func Decode(raw []byte, name string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("%s: document %d has no kind or apiVersion", name, len(objs)+1)
		}
		objs = append(objs, u)
	}
}

// Apply server-side applies objects as rc's user (field manager guardrail): namespaces and
// CRDs first, Kyverno policies last, retrying each while CRDs become established and webhooks
// come up, until timeout.
func Apply(ctx context.Context, rc *rest.Config, objs []*unstructured.Unstructured, timeout time.Duration) error {
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(kube.Discovery()))
	rank := func(o *unstructured.Unstructured) int {
		switch o.GetKind() {
		case "Namespace", "CustomResourceDefinition":
			return 0
		case "ClusterPolicy", "ValidatingPolicy":
			return 2
		}
		return 1
	}
	sorted := append([]*unstructured.Unstructured(nil), objs...)
	sort.SliceStable(sorted, func(i, j int) bool { return rank(sorted[i]) < rank(sorted[j]) })
	deadline := time.Now().Add(timeout)
	for _, o := range sorted {
		for {
			err := applyOne(ctx, dyn, mapper, o)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return err
			}
			mapper.Reset()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	return nil
}

func applyOne(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, o *unstructured.Unstructured) error {
	gvk := o.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, o.GetName(), err)
	}
	var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := o.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		ri = dyn.Resource(m.Resource).Namespace(ns)
	}
	if _, err := ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "guardrail", Force: true}); err != nil {
		return fmt.Errorf("apply %s %s/%s: %w", gvk.Kind, o.GetNamespace(), o.GetName(), err)
	}
	return nil
}

// WaitPolicies waits until every Kyverno policy among objs is Ready.
func WaitPolicies(ctx context.Context, dyn dynamic.Interface, objs []*unstructured.Unstructured, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, o := range objs {
		gvr, ok := policyGVR(o)
		if !ok {
			continue
		}
		for {
			p, err := dyn.Resource(gvr).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err == nil && policyReady(p) {
				break
			}
			if time.Now().After(deadline) {
				detail := ""
				if err != nil {
					detail = err.Error()
				} else {
					st, _, _ := unstructured.NestedMap(p.Object, "status")
					detail = fmt.Sprintf("status %v", st)
				}
				return fmt.Errorf("timed out after %s waiting for %s %s to be Ready: %s", timeout, o.GetKind(), o.GetName(), detail)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	// Kyverno marks a policy Ready and then reconfigures its webhooks; give the API server a
	// moment to pick up the new rules.
	time.Sleep(2 * time.Second)
	return nil
}

// policyReady reports whether a Kyverno policy is Ready: a ClusterPolicy has the condition
// Ready=True in status.conditions; a ValidatingPolicy (policies.kyverno.io) reports
// status.conditionStatus.ready and its own conditions there.
func policyReady(p *unstructured.Unstructured) bool {
	if ConditionTrue(p, "Ready") {
		return true
	}
	ready, found, _ := unstructured.NestedBool(p.Object, "status", "conditionStatus", "ready")
	if found {
		return ready
	}
	conds, _, _ := unstructured.NestedSlice(p.Object, "status", "conditionStatus", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// policyGVR is the resource of a Kyverno policy object.
func policyGVR(o *unstructured.Unstructured) (schema.GroupVersionResource, bool) {
	gvk := o.GroupVersionKind()
	switch gvk.GroupKind().String() {
	case "ClusterPolicy.kyverno.io":
		return gvk.GroupVersion().WithResource("clusterpolicies"), true
	case "ValidatingPolicy.policies.kyverno.io":
		return gvk.GroupVersion().WithResource("validatingpolicies"), true
	}
	return schema.GroupVersionResource{}, false
}

// ConditionTrue reports whether obj's status.conditions has typ with status True.
func ConditionTrue(obj *unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == typ && m["status"] == "True" {
			return true
		}
	}
	return false
}

// KyvernoConfigMap renders a kyverno.Config as the data of Kyverno's "kyverno" ConfigMap, the
// same resourceFilters, excludeGroups and webhook namespaceSelector the offline engine uses.
func KyvernoConfigMap(c kyverno.Config) (map[string]string, error) {
	data := map[string]string{}
	rf := c.ResourceFilters
	if rf == "" && !c.Bare {
		rf = kyverno.DefaultResourceFilters
	}
	if rf == kyverno.ResourceFiltersNone {
		rf = ""
	}
	if rf != "" {
		data["resourceFilters"] = rf
	}
	groups := c.ExcludeGroups
	if groups == nil && !c.Bare {
		groups = kyverno.DefaultExcludeGroups()
	}
	if len(groups) > 0 {
		data["excludeGroups"] = strings.Join(groups, ",")
	}
	if len(c.ExcludeUsernames) > 0 {
		data["excludeUsernames"] = strings.Join(c.ExcludeUsernames, ",")
	}
	if len(c.ExcludeRoles) > 0 {
		data["excludeRoles"] = strings.Join(c.ExcludeRoles, ",")
	}
	if len(c.ExcludeClusterRoles) > 0 {
		data["excludeClusterRoles"] = strings.Join(c.ExcludeClusterRoles, ",")
	}
	sel := c.WebhookNamespaceSelector
	if sel == nil && !c.Bare {
		sel = kyverno.DefaultWebhookNamespaceSelector()
	}
	if sel != nil {
		js, err := json.Marshal([]map[string]any{{"namespaceSelector": sel}})
		if err != nil {
			return nil, err
		}
		data["webhooks"] = string(js)
	}
	return data, nil
}
