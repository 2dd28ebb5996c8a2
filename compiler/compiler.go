// Package compiler turns environment files into everything a GitOps repo applies. Compile is
// the one entry point: it loads and validates the environments (package load), resolves them
// (package model), emits EKS requests, aws-auth, kustomize overlays and Kyverno policies
// (package emit), checks every policy with Kyverno's own validation (package kyverno) and
// renders each overlay with krusty (package render). It works in memory; Write and Diff are
// the only functions that touch the disk.
package compiler

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"guardrail.dev/guardrail/compiler/emit"
	"guardrail.dev/guardrail/compiler/kyverno"
	"guardrail.dev/guardrail/compiler/load"
	"guardrail.dev/guardrail/compiler/model"
	"guardrail.dev/guardrail/compiler/render"
)

// Options tune a compilation.
type Options struct {
	// PolicyKind is emit.ValidatingPolicy (default) or emit.ClusterPolicy.
	PolicyKind string
	// Strict turns warnings into errors.
	Strict bool
}

// Output is the result of a compilation.
type Output struct {
	// Files are relative to the output directory: base/... and <env>/...
	Files emit.Files
	// Dirs are the top-level directories Files fills (base and one per environment), sorted.
	Dirs []string
	// Envs are the environments compiled.
	Envs []*load.Loaded
	// Warnings found while loading.
	Warnings load.Diagnostics
}

// RenderedFile is the name of each environment's kustomize build output.
const RenderedFile = "rendered.yaml"

// PolicyError is a policy that Kyverno's validation rejects.
type PolicyError struct {
	Source string // file (policies/...) or generated path (deploy/<env>/policies/...)
	// Line and Column are the field Kyverno's message names, or the line where the failing
	// document starts; 0 when Source says where.
	Line, Column int
	Err          error
}

func (e *PolicyError) Error() string {
	switch {
	case e.Column > 0:
		return fmt.Sprintf("%s:%d:%d: %v", e.Source, e.Line, e.Column, e.Err)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %v", e.Source, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Source, e.Err)
}
func (e *PolicyError) Unwrap() error { return e.Err }

// ReadLibrary reads the hand-written policies: every *.yaml and *.yml file of dir. A missing
// directory is an empty library.
func ReadLibrary(dir string) ([]load.Source, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read policy library: %w", err)
	}
	var out []load.Source
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("failed to read policy library: %w", err)
		}
		out = append(out, load.Source{Path: p, Data: b})
	}
	return out, nil
}

// CompileRepository compiles a GitOps repository laid out as the design names it: every
// environment file of root/environments and the library root/policies.
func CompileRepository(root string, opts Options) (*Output, error) {
	src, err := load.ReadPaths([]string{filepath.Join(root, "environments")})
	if err != nil {
		return nil, err
	}
	lib, err := ReadLibrary(filepath.Join(root, "policies"))
	if err != nil {
		return nil, err
	}
	return Compile(src, lib, opts)
}

// Environment returns a compiled environment and its rendered overlay; ok is false when the
// output holds no environment of that name.
func (o *Output) Environment(name string) (env *model.Env, rendered []byte, ok bool) {
	for _, l := range o.Envs {
		if l.Env.Name == name {
			return l.Env, o.Files[name+"/"+RenderedFile], true
		}
	}
	return nil, nil, false
}

// Compile compiles environments and the policy library. Input problems come back as a
// *load.InvalidError holding every diagnostic; a policy Kyverno rejects as a *PolicyError.
func Compile(envs, library []load.Source, opts Options) (*Output, error) {
	loaded, diags := load.Load(envs)
	if errs := diags.Errors(opts.Strict); len(errs) > 0 {
		return nil, &load.InvalidError{Diagnostics: errs}
	}
	lib := map[string][]byte{}
	for _, src := range library {
		if err := checkPolicies(src.Path, src.Data); err != nil {
			return nil, err
		}
		name := filepath.Base(src.Path)
		if _, dup := lib[name]; dup {
			return nil, fmt.Errorf("%s: two library files are named %s", src.Path, name)
		}
		lib[name] = src.Data
	}
	base, err := emit.Base(lib)
	if err != nil {
		return nil, err
	}
	out := &Output{Files: emit.Files{}, Envs: loaded, Warnings: diags.Warnings(), Dirs: []string{"base"}}
	for name, b := range base {
		out.Files["base/"+name] = b
	}
	var checks []policyCheck
	for _, l := range loaded {
		files, err := emit.Environment(l.Env, emit.Options{PolicyKind: opts.PolicyKind})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.File.Path, err)
		}
		for _, p := range files.Paths() {
			if path.Dir(p) == "policies" {
				checks = append(checks, policyCheck{source: guardrailSource(l, p), data: files[p]})
			}
			out.Files[l.Env.Name+"/"+p] = files[p]
		}
		out.Dirs = append(out.Dirs, l.Env.Name)
	}
	// Kyverno's validation of the generated policies and the krusty builds are independent:
	// run them side by side, on every core.
	renders := make([]<-chan renderResult, len(loaded))
	for i, l := range loaded {
		ch := make(chan renderResult, 1)
		renders[i] = ch
		go func(name string) {
			b, err := render.Build(out.Files, name)
			ch <- renderResult{b, err}
		}(l.Env.Name)
	}
	checkErr := checkAll(checks)
	for i, l := range loaded {
		r := <-renders[i]
		if r.err != nil && checkErr == nil {
			checkErr = fmt.Errorf("%s: %w", l.File.Path, r.err)
		}
		out.Files[l.Env.Name+"/"+RenderedFile] = r.data
	}
	if checkErr != nil {
		return nil, checkErr
	}
	sort.Strings(out.Dirs)
	addListings(out)
	return out, nil
}

// ListingFile is the file in each directory compile writes that lists the directory's files:
// compile replaces only directories that hold it and nothing it does not list.
const ListingFile = ".guardrail"

const listingHeader = "# Written by guardrail compile, which replaces this directory whole on every run:\n# keep your own files elsewhere. The files it wrote:\n"

// addListings adds each directory's ListingFile to out.Files.
func addListings(out *Output) {
	byDir := map[string][]string{}
	for p := range out.Files {
		d, rest, _ := strings.Cut(p, "/")
		byDir[d] = append(byDir[d], rest)
	}
	for _, d := range out.Dirs {
		names := byDir[d]
		sort.Strings(names)
		out.Files[d+"/"+ListingFile] = []byte(listingHeader + strings.Join(names, "\n") + "\n")
	}
}

// parseListing returns the files a ListingFile names; ok is false when it is not one.
func parseListing(b []byte) (map[string]bool, bool) {
	rest, ok := strings.CutPrefix(string(b), listingHeader)
	if !ok {
		return nil, false
	}
	files := map[string]bool{ListingFile: true}
	for _, l := range strings.Split(strings.TrimSuffix(rest, "\n"), "\n") {
		if l != "" {
			files[l] = true
		}
	}
	return files, true
}

// guardrailSource names the guardrail a generated policy file comes from, with its position.
func guardrailSource(l *load.Loaded, file string) string {
	for _, g := range l.Env.Guardrails {
		if path.Base(file) == g.PolicyName+".yaml" {
			line, col := l.File.Position(fmt.Sprintf("spec.guardrails[%d]", g.Index))
			return fmt.Sprintf("%s:%d:%d: guardrail %q (policy %s)", l.File.Path, line, col, g.Name, g.PolicyName)
		}
	}
	return path.Join(l.Env.Name, file)
}

type renderResult struct {
	data []byte
	err  error
}

type policyCheck struct {
	source string
	data   []byte
}

// checkAll validates the policies on every core and returns the error of the first failing
// one in input order, so the message does not depend on scheduling.
func checkAll(checks []policyCheck) error {
	errs := make([]error, len(checks))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = checkPolicies(checks[i].source, checks[i].data)
				var perr *PolicyError
				if errors.As(errs[i], &perr) {
					perr.Line, perr.Column = 0, 0 // a generated policy's source names its guardrail's line
				}
			}
		}()
	}
	for i := range checks {
		next <- i
	}
	close(next)
	wg.Wait()
	return firstNonNil(errs)
}

func firstNonNil(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkPolicies runs Kyverno's validation on every document of a policy file. An error names
// the line where the failing document starts.
func checkPolicies(source string, data []byte) error {
	for _, d := range documents(data) {
		if len(bytes.TrimSpace(stripComments(d.data))) == 0 {
			continue
		}
		if _, err := kyverno.ParsePolicy(d.data); err != nil {
			perr := &PolicyError{Source: source, Line: d.line, Err: err}
			if line, col, ok := fieldPosition(d.data, errorField(err.Error())); ok {
				perr.Line, perr.Column = d.start+line-1, col
			}
			return perr
		}
	}
	return nil
}

// Field paths in Kyverno's messages: "at path: spec/rules[0]/match" (ClusterPolicy) and
// "spec.validations[0].expression: Invalid value" (ValidatingPolicy, field.Error).
var (
	slashPath = regexp.MustCompile(`path: (spec(?:/[A-Za-z]+|\[[0-9]+\])+)`)
	dotPath   = regexp.MustCompile(`\b(spec(?:\.[A-Za-z]+|\[[0-9]+\])+)`)
)

// errorField is the first field path a Kyverno message names, dot-separated, or "".
func errorField(msg string) string {
	if m := slashPath.FindStringSubmatch(msg); m != nil {
		return strings.ReplaceAll(m[1], "/", ".")
	}
	if m := dotPath.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}

var pathSegment = regexp.MustCompile(`[A-Za-z]+|\[[0-9]+\]`)

// fieldPosition finds a field path (spec.rules[0].match) in a YAML document, 1-based; when
// only a prefix of the path exists, the deepest node found.
func fieldPosition(doc []byte, field string) (line, col int, ok bool) {
	if field == "" {
		return 0, 0, false
	}
	var root yaml.Node
	if yaml.Unmarshal(doc, &root) != nil || len(root.Content) == 0 {
		return 0, 0, false
	}
	n := root.Content[0]
	line, col = n.Line, n.Column
	for _, seg := range pathSegment.FindAllString(field, -1) {
		next := (*yaml.Node)(nil)
		if strings.HasPrefix(seg, "[") {
			i, _ := strconv.Atoi(strings.Trim(seg, "[]"))
			if n.Kind == yaml.SequenceNode && i < len(n.Content) {
				next = n.Content[i]
			}
		} else if n.Kind == yaml.MappingNode {
			for k := 0; k+1 < len(n.Content); k += 2 {
				if n.Content[k].Value == seg {
					line, col = n.Content[k].Line, n.Content[k].Column
					next = n.Content[k+1]
					break
				}
			}
		}
		if next == nil {
			break
		}
		n = next
		if seg[0] == '[' {
			line, col = n.Line, n.Column
		}
	}
	return line, col, true
}

type document struct {
	start int // line of its first line
	line  int // of its first line that is not blank or a comment
	data  []byte
}

// documents splits a YAML stream at its "---" lines, as a YAML reader does.
func documents(data []byte) []document {
	var docs []document
	cur := document{}
	flush := func() {
		if cur.data != nil {
			docs = append(docs, cur)
		}
		cur = document{}
	}
	for i, line := range bytes.SplitAfter(data, []byte("\n")) {
		t := bytes.TrimRight(line, " \t\r\n")
		if bytes.Equal(t, []byte("---")) || bytes.HasPrefix(t, []byte("--- ")) {
			flush()
			continue
		}
		if cur.data == nil {
			cur.start = i + 1
		}
		if trimmed := bytes.TrimSpace(line); cur.line == 0 && len(trimmed) > 0 && trimmed[0] != '#' {
			cur.line = i + 1
		}
		cur.data = append(cur.data, line...)
	}
	flush()
	return docs
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			out = append(out, line...)
		}
	}
	return out
}
