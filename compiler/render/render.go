// Package render builds kustomize overlays in process with sigs.k8s.io/kustomize/api/krusty,
// the library behind kubectl kustomize, over an in-memory file system: nothing is shelled
// out and nothing touches the disk.
//
// krusty's build is quadratic in the number of objects (every object is checked against
// every other for ID conflicts and name references), which takes seconds at a few thousand
// objects. Build therefore renders a plain overlay (one made only of resources lists, as the
// compiler emits) in chunks, each a krusty build of its own, concatenated in input order, which
// is the order krusty's default options (no reordering) keep. A test checks that both give the
// same bytes.
package render

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/yaml"
)

// chunkSize bounds the objects of one krusty build in Build.
const chunkSize = 64

// Build renders the kustomization at dir, one of files' paths (slash-separated, relative
// to one root), and returns the YAML stream kustomize build would print.
func Build(files map[string][]byte, dir string) ([]byte, error) {
	docs, ok := flatten(files, dir, map[string]bool{})
	if !ok || len(docs) <= chunkSize {
		return BuildWhole(files, dir)
	}
	nChunks := (len(docs) + chunkSize - 1) / chunkSize
	built := make([][]*resource.Resource, nChunks)
	err := each(nChunks, func(c int) error {
		start := c * chunkSize
		end := min(start+chunkSize, len(docs))
		chunk := map[string][]byte{
			"kustomization.yaml": []byte("resources:\n- objects.yaml\n"),
			"objects.yaml":       bytes.Join(docs[start:end], []byte("---\n")),
		}
		m, err := run(chunk, ".")
		if err != nil {
			return fmt.Errorf("kustomize build %s: %w", dir, err)
		}
		built[c] = m.Resources()
		return nil
	})
	if err != nil {
		return nil, err
	}
	var all []*resource.Resource
	for _, rs := range built {
		all = append(all, rs...)
	}
	seen := map[resid.ResId]bool{}
	for _, r := range all {
		id := r.CurId()
		if seen[id] {
			return nil, fmt.Errorf("kustomize build %s: may not add resource with an already registered id: %s", dir, id)
		}
		seen[id] = true
	}
	encoded := make([][]byte, len(all))
	err = each(len(all), func(i int) (err error) {
		encoded[i], err = all[i].AsYAML()
		return err
	})
	if err != nil {
		return nil, err
	}
	return bytes.Join(encoded, []byte("---\n")), nil
}

// each runs fn(0..n-1) on every core and returns the error of the lowest failing index, so that
// the message does not depend on scheduling.
func each(n int, fn func(i int) error) error {
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				errs[i] = fn(i)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// BuildWhole is one krusty build of the kustomization at dir.
func BuildWhole(files map[string][]byte, dir string) ([]byte, error) {
	m, err := run(files, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return out, nil
}

type resMap interface {
	Resources() []*resource.Resource
	AsYaml() ([]byte, error)
}

func run(files map[string][]byte, dir string) (resMap, error) {
	fs := filesys.MakeFsInMemory()
	for p, b := range files {
		full := path.Join("/", p)
		if err := fs.MkdirAll(path.Dir(full)); err != nil {
			return nil, err
		}
		if err := fs.WriteFile(full, b); err != nil {
			return nil, err
		}
	}
	return krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, path.Join("/", dir))
}

// flatten returns the documents of a kustomization made only of resources (files, or
// directories that are such kustomizations themselves); ok is false for anything else
// (patches, generators, name prefixes...), which Build leaves to one krusty build.
func flatten(files map[string][]byte, dir string, visiting map[string]bool) (docs [][]byte, ok bool) {
	if visiting[dir] {
		return nil, false
	}
	visiting[dir] = true
	var k map[string]any
	if err := yaml.Unmarshal(files[path.Join(dir, "kustomization.yaml")], &k); err != nil || k == nil {
		return nil, false
	}
	for key := range k {
		if key != "apiVersion" && key != "kind" && key != "resources" {
			return nil, false
		}
	}
	list, _ := k["resources"].([]any)
	for _, item := range list {
		rel, isString := item.(string)
		if !isString || strings.Contains(rel, "://") {
			return nil, false
		}
		p := path.Join(dir, rel)
		if b, isFile := files[p]; isFile {
			d, err := splitDocs(b)
			if err != nil {
				return nil, false
			}
			docs = append(docs, d...)
			continue
		}
		sub, ok := flatten(files, p, visiting)
		if !ok {
			return nil, false
		}
		docs = append(docs, sub...)
	}
	return docs, true
}

func splitDocs(b []byte) ([][]byte, error) {
	var out [][]byte
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if startsMapping(doc) {
			out = append(out, doc)
			continue
		}
		var v any
		if err := yaml.Unmarshal(doc, &v); err != nil {
			return nil, err
		}
		if v != nil {
			out = append(out, doc)
		}
	}
}

// startsMapping reports whether the first line of doc that is not blank, a comment or a document
// marker is a plain "key:" entry of a block mapping, that is, whether doc is certainly not an empty
// document; anything else is left to the YAML parser.
func startsMapping(doc []byte) bool {
	for len(doc) > 0 {
		line := doc
		if i := bytes.IndexByte(doc, '\n'); i >= 0 {
			line, doc = doc[:i], doc[i+1:]
		} else {
			doc = nil
		}
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' || bytes.Equal(t, []byte("---")) {
			continue
		}
		return plainKey.Match(line)
	}
	return false
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\-/]*:( |$)`)
