package load

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"guardrail.dev/guardrail/compiler/apis/v1alpha1"
)

// File is one decoded environment file and where each of its fields stands.
type File struct {
	// Path of the file as given (used in every diagnostic).
	Path string
	// Env is the decoded environment. It is set even when the file has semantic errors.
	Env *v1alpha1.Environment
	pos map[string]position
}

type position struct{ line, col int }

// Position returns the line and column of the field at path (spec.teams[1].name), or of its
// nearest ancestor that exists in the file.
func (f *File) Position(path string) (line, col int) {
	for p := path; ; {
		if pos, ok := f.pos[p]; ok {
			return pos.line, pos.col
		}
		if p == "" {
			return 1, 1
		}
		p = parent(p)
	}
}

func parent(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// diag builds a diagnostic at path.
func (f *File) diag(sev Severity, path, fix, format string, args ...any) Diagnostic {
	line, col := f.Position(path)
	return Diagnostic{File: f.Path, Line: line, Column: col, Path: path, Severity: sev, Message: fmt.Sprintf(format, args...), Fix: fix}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// firstTab is the position of the first tab in the indentation of a line, 1-based.
func firstTab(data []byte) (line, col int, ok bool) {
	for i, l := range strings.Split(string(data), "\n") {
		for j, c := range l {
			if c == '\t' {
				return i + 1, j + 1, true
			}
			if c != ' ' {
				break
			}
		}
	}
	return 0, 0, false
}

// Decode strictly decodes one environment file. An unknown or misspelt field, a value of the
// wrong type, a duplicate key or a YAML syntax error is a diagnostic with its line and column.
// It returns a File (nil only when the YAML cannot be parsed) and every problem found.
func Decode(path string, data []byte) (*File, Diagnostics) {
	var doc yaml.Node
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&doc); err != nil {
		line, msg := 1, err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		} else {
			msg = strings.TrimPrefix(msg, "yaml: ")
		}
		if msg == "EOF" {
			msg = "the file is empty"
		}
		fix := "an environment file holds one YAML document with apiVersion, kind, metadata and spec"
		// yaml.v3 reports a tab as a token that cannot start; name the tab.
		if ln, col, ok := firstTab(data); ok && ln <= line {
			return nil, Diagnostics{{File: path, Line: ln, Column: col, Message: "invalid YAML: a tab character indents this line",
				Fix: "YAML indents with spaces only: replace the tab with spaces"}}
		}
		return nil, Diagnostics{{File: path, Line: line, Column: 1, Message: "invalid YAML: " + msg, Fix: fix}}
	}
	f := &File{Path: path, Env: &v1alpha1.Environment{}, pos: map[string]position{}}
	var ds Diagnostics
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil && !emptyDocument(&extra) {
		ds = append(ds, Diagnostic{File: path, Line: extra.Line, Column: extra.Column, Severity: Error,
			Message: "a second YAML document", Fix: "put each environment in a file of its own"})
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d := &decoder{f: f}
	d.walk(root, reflect.ValueOf(f.Env).Elem(), "")
	return f, append(ds, d.diags...)
}

type decoder struct {
	f     *File
	diags Diagnostics
}

func (d *decoder) errAt(n *yaml.Node, path, fix, format string, args ...any) {
	d.diags = append(d.diags, Diagnostic{File: d.f.Path, Line: n.Line, Column: n.Column, Path: path,
		Severity: Error, Message: fmt.Sprintf(format, args...), Fix: fix})
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("the string %q", n.Value)
	}
	return "a value"
}

func (d *decoder) walk(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if _, seen := d.f.pos[path]; !seen {
		d.f.pos[path] = position{n.Line, n.Column}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the field unset
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.walk(n, v.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.errAt(n, path, "write it as key: value pairs", "expected a mapping, found %s", kindName(n))
			return
		}
		fields := jsonFields(v.Type())
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			child := join(path, k.Value)
			if seen[k.Value] {
				d.errAt(k, child, "remove one of them", "field %q is given twice", k.Value)
				continue
			}
			seen[k.Value] = true
			idx, ok := fields[k.Value]
			if !ok {
				names := make([]string, 0, len(fields))
				for name := range fields {
					names = append(names, name)
				}
				fix := "known fields: " + strings.Join(sorted(names), ", ")
				if s := nearest(k.Value, names); s != "" {
					fix = fmt.Sprintf("did you mean %q?", s)
				}
				d.f.pos[child] = position{k.Line, k.Column}
				d.errAt(k, child, fix, "unknown field %q", k.Value)
				continue
			}
			d.walk(val, v.Field(idx), child)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errAt(n, path, "write it as a list: [a, b] or one '- item' a line", "expected a list, found %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.walk(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.errAt(n, path, "write it as key: value pairs", "expected a mapping, found %s", kindName(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			child := path + "[" + strconv.Quote(k.Value) + "]"
			if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
				d.errAt(k, child, "remove one of them", "key %q is given twice", k.Value)
				continue
			}
			d.f.pos[child] = position{k.Line, k.Column} // an entry is found by its key
			ev := reflect.New(v.Type().Elem()).Elem()
			d.walk(val, ev, child)
			m.SetMapIndex(reflect.ValueOf(k.Value), ev)
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			fix := "write a string"
			if n.Kind == yaml.ScalarNode {
				fix = fmt.Sprintf("quote it: %q", n.Value)
			}
			d.errAt(n, path, fix, "expected a string, found %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
			d.errAt(n, path, "write true or false", "expected a boolean, found %s", kindName(n))
			return
		}
		v.SetBool(b)
	default:
		panic(fmt.Sprintf("load: unsupported field type %s at %s", v.Type(), path))
	}
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func jsonFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

func sorted(s []string) []string {
	sort.Strings(s)
	return s
}

// nearest returns the candidate closest to s (case-insensitive match, or edit distance <= 2), or "".
func nearest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range sorted(append([]string(nil), candidates...)) {
		if strings.EqualFold(c, s) {
			return c
		}
		if dist := editDistance(strings.ToLower(s), strings.ToLower(c)); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// emptyDocument reports whether a document holds nothing (a trailing "---").
func emptyDocument(n *yaml.Node) bool {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}
