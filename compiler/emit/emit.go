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
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

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
	var streams []stream
	add := func(path string, objs []object) {
		if len(objs) == 0 || err != nil {
			return
		}
		streams = append(streams, stream{path, objs})
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
	if err == nil {
		err = marshalStreams(streams, files)
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

// stream is one multi-document YAML file of the overlay.
type stream struct {
	path string
	objs []object
}

// marshalStreams encodes the streams into files, objects on every core (YAML encoding is most of
// the emitter's time), each file's documents in order.
func marshalStreams(streams []stream, files Files) error {
	type doc struct {
		obj object
		out []byte
		err error
	}
	var docs []doc
	for _, s := range streams {
		for _, o := range s.objs {
			docs = append(docs, doc{obj: o})
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(docs), runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(docs); i = int(next.Add(1) - 1) {
				docs[i].out, docs[i].err = marshalYAML(docs[i].obj)
			}
		})
	}
	wg.Wait()
	i := 0
	for _, s := range streams {
		var buf bytes.Buffer
		for j := range s.objs {
			if docs[i].err != nil {
				return docs[i].err
			}
			if j > 0 {
				buf.WriteString("---\n")
			}
			buf.Write(docs[i].out)
			i++
		}
		files[s.path] = buf.Bytes()
	}
	return nil
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
