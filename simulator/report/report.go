// Package report renders a run's results for people and for CI. The run produces Cucumber
// JSON (godog's own cucumber formatter, with each verdict's explanation attached to its step);
// Pretty and JUnit render that same document, so all three reports say the same thing, in a
// stable order and without timings.
package report

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// Feature is one feature of the Cucumber JSON report.
type Feature struct {
	URI      string    `json:"uri"`
	Keyword  string    `json:"keyword"`
	Name     string    `json:"name"`
	Line     int       `json:"line"`
	Elements []Element `json:"elements"`
}

// Element is one scenario (an outline gives one per example row).
type Element struct {
	ID      string `json:"id"`
	Keyword string `json:"keyword"`
	Name    string `json:"name"`
	Line    int    `json:"line"`
	Type    string `json:"type"`
	Tags    []struct {
		Name string `json:"name"`
	} `json:"tags"`
	Steps []Step `json:"steps"`
}

// Step is one step with its result.
type Step struct {
	Keyword string `json:"keyword"`
	Name    string `json:"name"`
	Line    int    `json:"line"`
	Result  struct {
		Status string `json:"status"`
		Error  string `json:"error_message"`
	} `json:"result"`
	Embeddings []struct {
		MimeType string `json:"mime_type"`
		Data     string `json:"data"`
	} `json:"embeddings"`
}

// Explanation returns the step's explanation lines.
func (s Step) Explanation() []string {
	var out []string
	for _, e := range s.Embeddings {
		if e.MimeType != "text/plain" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(e.Data)
		if err != nil {
			b = []byte(e.Data)
		}
		out = append(out, strings.Split(strings.TrimRight(string(b), "\n"), "\n")...)
	}
	return out
}

// Passed reports whether every step of the scenario passed.
func (e Element) Passed() bool {
	for _, s := range e.Steps {
		if s.Result.Status != "passed" {
			return false
		}
	}
	return len(e.Steps) > 0
}

// Parse reads godog's Cucumber JSON.
func Parse(b []byte) ([]Feature, error) {
	var fs []Feature
	if err := json.Unmarshal(b, &fs); err != nil {
		return nil, fmt.Errorf("failed to read the cucumber report: %w", err)
	}
	return fs, nil
}

// Summary counts scenarios and steps.
type Summary struct {
	Scenarios, ScenariosPassed, ScenariosFailed   int
	Steps, StepsPassed, StepsFailed, StepsSkipped int
}

// Summarize counts the results.
func Summarize(fs []Feature) Summary {
	var s Summary
	for _, f := range fs {
		for _, e := range f.Elements {
			s.Scenarios++
			if e.Passed() {
				s.ScenariosPassed++
			} else {
				s.ScenariosFailed++
			}
			for _, st := range e.Steps {
				s.Steps++
				switch st.Result.Status {
				case "passed":
					s.StepsPassed++
				case "failed":
					s.StepsFailed++
				default:
					s.StepsSkipped++
				}
			}
		}
	}
	return s
}

func (s Summary) String() string {
	return fmt.Sprintf("%d scenarios (%d passed, %d failed), %d steps (%d passed, %d failed, %d skipped)",
		s.Scenarios, s.ScenariosPassed, s.ScenariosFailed, s.Steps, s.StepsPassed, s.StepsFailed, s.StepsSkipped)
}

// Colors for Pretty; the zero value prints none.
type Colors struct{ Pass, Fail, Skip, Dim, Reset string }

// ANSI are terminal colours.
var ANSI = Colors{Pass: "\x1b[32m", Fail: "\x1b[31m", Skip: "\x1b[36m", Dim: "\x1b[90m", Reset: "\x1b[0m"}

// Pretty writes the human report: every scenario and step, each verdict's explanation under
// its step, failures in full, and a summary line.
func Pretty(w io.Writer, fs []Feature, c Colors) error { return pretty(w, fs, c, false) }

// PrettyFailures is Pretty with only the scenarios that failed (and their features), then the
// summary: for CI logs (simulate -q).
func PrettyFailures(w io.Writer, fs []Feature, c Colors) error { return pretty(w, fs, c, true) }

func pretty(w io.Writer, fs []Feature, c Colors, failuresOnly bool) error {
	var b strings.Builder
	for _, f := range fs {
		if failuresOnly && !hasFailure(f) {
			continue
		}
		fmt.Fprintf(&b, "%s: %s  %s# %s:%d%s\n", f.Keyword, f.Name, c.Dim, f.URI, f.Line, c.Reset)
		for _, e := range f.Elements {
			if failuresOnly && e.Passed() {
				continue
			}
			mark, col := "✔", c.Pass
			if !e.Passed() {
				mark, col = "✘", c.Fail
			}
			fmt.Fprintf(&b, "\n  %s%s %s: %s%s  %s# %s:%d%s\n", col, mark, e.Keyword, e.Name, c.Reset, c.Dim, f.URI, e.Line, c.Reset)
			for _, st := range e.Steps {
				sm, scol := "✔", c.Pass
				switch st.Result.Status {
				case "failed":
					sm, scol = "✘", c.Fail
				case "passed":
				default:
					sm, scol = "-", c.Skip
				}
				fmt.Fprintf(&b, "    %s%s %s%s%s\n", scol, sm, st.Keyword, st.Name, c.Reset)
				for _, line := range st.Explanation() {
					if st.Result.Status == "failed" {
						break // the error repeats the explanation
					}
					fmt.Fprintf(&b, "        %s%s%s\n", c.Dim, line, c.Reset)
				}
				if st.Result.Status == "failed" {
					for _, line := range strings.Split(st.Result.Error, "\n") {
						fmt.Fprintf(&b, "        %s%s%s\n", c.Fail, line, c.Reset)
					}
				}
			}
		}
		b.WriteString("\n")
	}
	sum := Summarize(fs)
	col := c.Pass
	if sum.ScenariosFailed > 0 {
		col = c.Fail
	}
	fmt.Fprintf(&b, "%s%s%s\n", col, sum, c.Reset)
	_, err := io.WriteString(w, b.String())
	return err
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr"`
	Line      int           `xml:"line,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// JUnit writes JUnit XML: a testsuite per feature, a testcase per scenario; system-out holds
// every step with its explanation, and a failure holds the failing step's error.
func JUnit(w io.Writer, suiteName string, fs []Feature) error {
	out := junitSuites{Name: suiteName}
	for _, f := range fs {
		s := junitSuite{Name: f.Name}
		for _, e := range f.Elements {
			c := junitCase{Name: e.Name, Classname: f.Name, File: f.URI, Line: e.Line}
			var so strings.Builder
			for _, st := range e.Steps {
				fmt.Fprintf(&so, "%s%s [%s]\n", st.Keyword, st.Name, st.Result.Status)
				for _, l := range st.Explanation() {
					fmt.Fprintf(&so, "    %s\n", l)
				}
				if st.Result.Status == "failed" && c.Failure == nil {
					first, _, _ := strings.Cut(st.Result.Error, "\n")
					c.Failure = &junitFailure{Message: first, Type: "failed", Text: fmt.Sprintf("%s:%d: %s%s\n%s", f.URI, st.Line, st.Keyword, st.Name, st.Result.Error)}
				}
			}
			c.SystemOut = so.String()
			s.Tests++
			if c.Failure != nil {
				s.Failures++
			}
			s.Cases = append(s.Cases, c)
		}
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Suites = append(out.Suites, s)
	}
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s%s\n", xml.Header, b)
	return err
}

func hasFailure(f Feature) bool {
	for _, e := range f.Elements {
		if !e.Passed() {
			return true
		}
	}
	return false
}
