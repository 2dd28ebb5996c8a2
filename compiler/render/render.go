// Package render builds kustomize overlays in process with sigs.k8s.io/kustomize/api/krusty,
// the library behind kubectl kustomize, over an in-memory file system: nothing is shelled
// out and nothing touches the disk.
package render

import (
	"fmt"
	"path"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Build writes files (slash-separated paths relative to one root) into memory and runs
// kustomize build on dir, one of those paths. It returns the rendered YAML stream.
func Build(files map[string][]byte, dir string) ([]byte, error) {
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
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(fs, path.Join("/", dir))
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return out, nil
}
