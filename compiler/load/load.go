// Package load reads environment files: strict decoding that keeps every field's line and
// column, then validation that reports every problem at once, sorted by position, each with
// what is wrong and how to fix it.
//
// Start with Load; Decode and Validate are its two halves.
package load

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"guardrail.dev/guardrail/compiler/model"
)

// Source is the bytes of one environment file.
type Source struct {
	Path string
	Data []byte
}

// Loaded is one valid environment.
type Loaded struct {
	File *File
	Env  *model.Env
}

// ReadPaths reads environment files. A directory stands for its *.yaml and *.yml files (not
// recursive); no paths means environments/.
func ReadPaths(paths []string) ([]Source, error) {
	if len(paths) == 0 {
		paths = []string{"environments"}
	}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) && p == "environments" {
			return nil, fmt.Errorf("failed to read environments: there is no environments/ directory here: run guardrail from the root of the GitOps repository, or name the environment files")
		}
		if err != nil {
			return nil, fmt.Errorf("failed to read environments: %w", err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("failed to read environments: %w", err)
		}
		var found []string
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				found = append(found, filepath.Join(p, e.Name()))
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("no environment files (*.yaml, *.yml) in %s", p)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	var out []Source
	seen := map[string]bool{}
	for _, f := range files {
		if abs, err := filepath.Abs(f); err == nil {
			if seen[abs] {
				continue // the same file named twice (a file and its directory)
			}
			seen[abs] = true
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("failed to read environment: %w", err)
		}
		out = append(out, Source{Path: f, Data: data})
	}
	return out, nil
}

// Load decodes and validates environment files. It returns the environments that have no
// errors and every diagnostic (errors and warnings), sorted. Two files may not declare the same
// environment name.
func Load(sources []Source) ([]*Loaded, Diagnostics) {
	var out []*Loaded
	var all Diagnostics
	names := map[string]string{}
	for _, src := range sources {
		f, ds := Decode(src.Path, src.Data)
		if f != nil && len(ds.Errors(false)) == 0 {
			ds = append(ds, Validate(f)...)
		}
		if f != nil {
			if name := f.Env.Metadata.Name; name != "" {
				if prev, dup := names[name]; dup {
					ds = append(ds, f.diag(Error, "metadata.name", "give each environment a name of its own",
						"environment %q is already declared in %s", name, prev))
				}
				names[name] = src.Path
			}
		}
		all = append(all, ds...)
		if f != nil && len(ds.Errors(false)) == 0 {
			out = append(out, &Loaded{File: f, Env: model.Build(src.Path, f.Env)})
		}
	}
	all.Sort()
	return out, all
}

// FormatPath renders a path relative to the working directory when it is below it.
func FormatPath(p string) string {
	wd, err := os.Getwd()
	if err != nil || !filepath.IsAbs(p) {
		return p
	}
	if rel, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}
