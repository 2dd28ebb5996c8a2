package load

import (
	"fmt"
	"sort"
	"strings"
)

// Severity of a diagnostic.
type Severity int

const (
	// Error makes the input invalid.
	Error Severity = iota
	// Warning is a lint; it becomes an error under --strict.
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one problem found in an environment file, with where it is and how to fix it.
type Diagnostic struct {
	File     string
	Line     int
	Column   int
	Path     string // field path, for example spec.teams[1].permissionSets[0]
	Severity Severity
	Message  string // what is wrong
	Fix      string // how to fix it; may be empty
}

// String formats the diagnostic as file:line:col: severity: path: message (fix).
func (d Diagnostic) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: %s: ", d.File, d.Line, d.Column, d.Severity)
	if d.Path != "" {
		b.WriteString(d.Path)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	if d.Fix != "" {
		b.WriteString(" (")
		b.WriteString(d.Fix)
		b.WriteString(")")
	}
	return b.String()
}

// Diagnostics is every problem of a run.
type Diagnostics []Diagnostic

// Sort orders diagnostics by file, line, column, then message, so output is stable.
func (ds Diagnostics) Sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Message < b.Message
	})
}

// Errors returns the diagnostics that are errors; with strict, warnings count too.
func (ds Diagnostics) Errors(strict bool) Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == Error || strict {
			d.Severity = Error // under strict a warning is an error, and says so
			out = append(out, d)
		}
	}
	return out
}

// Warnings returns the diagnostics that are warnings.
func (ds Diagnostics) Warnings() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == Warning {
			out = append(out, d)
		}
	}
	return out
}

// Error makes Diagnostics usable as an error: one diagnostic a line.
func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// InvalidError is returned when the input has errors; callers map it to exit code 1.
type InvalidError struct{ Diagnostics Diagnostics }

func (e *InvalidError) Error() string {
	n := len(e.Diagnostics)
	s := "s"
	if n == 1 {
		s = ""
	}
	return fmt.Sprintf("%s\n%d problem%s found", e.Diagnostics.Error(), n, s)
}
