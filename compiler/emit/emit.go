// Package emit turns a resolved environment (package model) into the files a GitOps repo
// applies: EKS API requests as JSON, the aws-auth ConfigMap, a kustomize overlay and Kyverno
// policies. Every function is pure: the same model gives the same bytes.
//
// Start with Environment.
package emit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"sigs.k8s.io/yaml"

	"guardrail.dev/guardrail/compiler/model"
)

// Policy kinds the guardrails compile into.
const (
	ValidatingPolicy = "ValidatingPolicy"
	ClusterPolicy    = "ClusterPolicy"
)

// Options tune the output.
type Options struct {
	// PolicyKind is ValidatingPolicy (default) or ClusterPolicy. A guardrail that matches
	// clusterRoles is a ClusterPolicy either way.
	PolicyKind string
	// BasePath is the overlay's path to the policies/ library; default ../base.
	BasePath string
}

// Files maps a slash-separated path to its content.
type Files map[string][]byte

// Paths returns the paths in sorted order.
func (f Files) Paths() []string {
	out := make([]string, 0, len(f))
	for p := range f {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Labels every generated Kubernetes object carries.
const (
	ManagedByLabel   = "app.kubernetes.io/managed-by"
	ManagedBy        = "guardrail"
	EnvironmentLabel = "guardrail.dev/environment"
)

// Environment emits one environment's files, relative to deploy/<env>/. Policies come under
// policies/, EKS requests under eks/.
func Environment(env *model.Env, opts Options) (Files, error) {
	if opts.PolicyKind == "" {
		opts.PolicyKind = ValidatingPolicy
	}
	if opts.PolicyKind != ValidatingPolicy && opts.PolicyKind != ClusterPolicy {
		return nil, fmt.Errorf("unknown policy kind %q: use %s or %s", opts.PolicyKind, ValidatingPolicy, ClusterPolicy)
	}
	if opts.BasePath == "" {
		opts.BasePath = "../base"
	}
	files := Files{}
	var err error
	put := func(path string, v any, asJSON bool) {
		if err != nil || v == nil {
			return
		}
		var b []byte
		if asJSON {
			b, err = marshalJSON(v)
		} else {
			b, err = marshalYAML(v)
		}
		if err == nil && b != nil {
			files[path] = b
		}
	}
	put("eks/access-entries.json", AccessEntries(env), true)
	put("eks/access-policy-associations.json", AccessPolicyAssociations(env), true)
	put("eks/pod-identity-associations.json", PodIdentityAssociations(env), true)
	if cm := AWSAuth(env); cm != nil {
		put("aws-auth.yaml", cm, false)
	}

	resources := []string{opts.BasePath}
	add := func(path string, objs []object) {
		if len(objs) == 0 || err != nil {
			return
		}
		var b []byte
		b, err = marshalYAMLDocs(objs)
		files[path] = b
		resources = append(resources, path)
	}
	add("namespaces.yaml", namespaces(env))
	add("rbac.yaml", rbac(env))
	add("serviceaccounts.yaml", serviceAccounts(env))
	for _, g := range env.Guardrails {
		var p object
		p, err = Policy(env, g, opts.PolicyKind)
		if err != nil {
			return nil, err
		}
		add("policies/"+g.PolicyName+".yaml", []object{p})
	}
	put("kustomization.yaml", object{
		"apiVersion": "kustomize.config.k8s.io/v1beta1",
		"kind":       "Kustomization",
		"resources":  resources,
	}, false)
	if err != nil {
		return nil, err
	}
	return files, nil
}

// Base emits deploy/base/: the policies/ library as one kustomize base. library maps file
// names to their content.
func Base(library map[string][]byte) (Files, error) {
	files := Files{}
	names := make([]string, 0, len(library))
	for name, b := range library {
		files[name] = b
		names = append(names, name)
	}
	sort.Strings(names)
	b, err := marshalYAML(object{
		"apiVersion": "kustomize.config.k8s.io/v1beta1",
		"kind":       "Kustomization",
		"resources":  names,
	})
	if err != nil {
		return nil, err
	}
	files["kustomization.yaml"] = b
	return files, nil
}

// object is a Kubernetes object or other mapping; keys come out sorted, which puts
// apiVersion, kind, metadata, spec in their usual order.
type object = map[string]any

func marshalYAML(v any) ([]byte, error) {
	b, err := yaml.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("failed to encode YAML: %w", err)
	}
	return b, nil
}

func marshalYAMLDocs(objs []object) ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		b, err := marshalYAML(o)
		if err != nil {
			return nil, err
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// marshalJSON encodes the value with sorted keys, indented, with null fields dropped (the SDK's
// optional fields are pointers), and a final newline.
func marshalJSON(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("failed to encode JSON: %w", err)
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(dropNulls(generic), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func dropNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			t[k] = dropNulls(e)
		}
	case []any:
		for i, e := range t {
			t[i] = dropNulls(e)
		}
	}
	return v
}

func meta(env *model.Env, name, namespace string) object {
	m := object{
		"name":   name,
		"labels": object{ManagedByLabel: ManagedBy, EnvironmentLabel: env.Name},
	}
	if namespace != "" {
		m["namespace"] = namespace
	}
	return m
}
