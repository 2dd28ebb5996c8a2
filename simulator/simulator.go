// Package simulator runs Gherkin scenarios (features/*.feature) against compiled
// environments. Run is the entry point: it checks every step against the vocabulary (package
// steps) before anything runs, executes the scenarios with godog on a backend (package
// backend/offline by default), and renders the results (package report).
package simulator

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/cucumber/godog"
	messages "github.com/cucumber/messages/go/v34"
	"sigs.k8s.io/yaml"

	"guardrail.dev/guardrail/compiler"
	"guardrail.dev/guardrail/simulator/backend"
	"guardrail.dev/guardrail/simulator/backend/offline"
	"guardrail.dev/guardrail/simulator/report"
	"guardrail.dev/guardrail/simulator/steps"
)

// Report formats.
const (
	FormatPretty   = "pretty"
	FormatJUnit    = "junit"
	FormatCucumber = "cucumber"
)

// Options of a run.
type Options struct {
	// Features are feature files or directories; default features/.
	Features []string
	// Compiled is the compiler's output for the environments the scenarios use.
	Compiled *compiler.Output
	// DefaultEnv is the environment of scenarios that do not name one; default: the only
	// environment, if there is one.
	DefaultEnv string
	// Backend makes the backend of an environment; nil means offline.
	Backend func(ctx context.Context, env string) (backend.Backend, error)
	// Format is pretty (default), junit or cucumber.
	Format string
	// Out receives the report; Color adds ANSI colours to the pretty report.
	Out   io.Writer
	Color bool
	// FailuresOnly leaves the passing scenarios out of the pretty report (simulate -q).
	FailuresOnly bool
	// Tags selects scenarios with godog's tag expression, for example "@guardrail && ~@slow".
	Tags string
	// Randomize shuffles the scenarios with this seed (0: file order).
	Randomize int64
	// Concurrency runs this many scenarios at once (0 or 1: one at a time). Reports keep file
	// order either way.
	Concurrency int
}

// Result of a run.
type Result struct {
	Summary report.Summary
}

// InputError is a problem with the feature files: a syntax error, an undefined or ambiguous
// step, an unknown environment. Callers map it to exit code 2.
type InputError struct{ Problems []string }

func (e *InputError) Error() string { return strings.Join(e.Problems, "\n") }

// BackendError is a backend that could not be started or reached; exit code 3.
type BackendError struct {
	Env string
	Err error
}

func (e *BackendError) Error() string {
	return fmt.Sprintf("backend for environment %q unavailable: %v", e.Env, e.Err)
}
func (e *BackendError) Unwrap() error { return e.Err }

var runMu sync.Mutex // godog keeps process-wide state (GODOG_SEED); one run at a time

// Run runs the scenarios and writes the report. A failing scenario is not an error: look at
// Result.Summary.
func Run(ctx context.Context, opts Options) (*Result, error) {
	runMu.Lock()
	defer runMu.Unlock()
	if len(opts.Features) == 0 {
		opts.Features = []string{"features"}
	}
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	switch opts.Format {
	case "", FormatPretty, FormatJUnit, FormatCucumber:
	default:
		return nil, &InputError{[]string{fmt.Sprintf("unknown format %q: use pretty, junit or cucumber", opts.Format)}}
	}
	if err := CheckTags(opts.Tags); err != nil {
		return nil, &InputError{[]string{err.Error()}}
	}
	envs := map[string]bool{}
	rendered := map[string][]byte{}
	for _, l := range opts.Compiled.Envs {
		envs[l.Env.Name] = true
		rendered[l.Env.Name] = opts.Compiled.Files[l.Env.Name+"/"+compiler.RenderedFile]
	}
	if opts.DefaultEnv == "" && len(opts.Compiled.Envs) == 1 {
		opts.DefaultEnv = opts.Compiled.Envs[0].Env.Name
	}
	if opts.DefaultEnv != "" && !envs[opts.DefaultEnv] {
		return nil, &InputError{[]string{fmt.Sprintf("unknown environment %q; compiled: %s", opts.DefaultEnv, strings.Join(sortedKeys(envs), ", "))}}
	}
	if opts.Backend == nil {
		opts.Backend = func(_ context.Context, env string) (backend.Backend, error) {
			for _, l := range opts.Compiled.Envs {
				if l.Env.Name == env {
					return offline.New(l.Env, rendered[env], offline.Options{})
				}
			}
			return nil, fmt.Errorf("unknown environment %q", env)
		}
	}

	var cucumber bytes.Buffer
	godogOpts := &godog.Options{
		Format:      "cucumber",
		Paths:       opts.Features,
		Tags:        opts.Tags,
		Strict:      true,
		Output:      &cucumber,
		NoColors:    true,
		Randomize:   opts.Randomize,
		Concurrency: opts.Concurrency,
	}
	backends := map[string]backend.Backend{}
	var backendErr error
	var mu sync.Mutex
	suite := &steps.Suite{DefaultEnv: opts.DefaultEnv, Backend: func(env string) (backend.Backend, error) {
		mu.Lock()
		defer mu.Unlock()
		if be, ok := backends[env]; ok {
			return be, nil
		}
		if !envs[env] {
			return nil, fmt.Errorf("unknown environment %q; compiled: %s", env, strings.Join(sortedKeys(envs), ", "))
		}
		be, err := opts.Backend(ctx, env)
		if err != nil {
			backendErr = &BackendError{Env: env, Err: err}
			return nil, backendErr
		}
		backends[env] = be
		return be, nil
	}}
	defer func() {
		for _, be := range backends {
			be.Close()
		}
	}()
	ts := godog.TestSuite{Name: "guardrail", ScenarioInitializer: steps.Initialize(suite), Options: godogOpts}
	features, err := ts.RetrieveFeatures()
	if err != nil {
		return nil, &InputError{parserProblems(err)}
	}
	var infos []featureInfo
	for _, f := range features {
		infos = append(infos, featureInfo{doc: f.GherkinDocument, uri: f.Uri, pickles: f.Pickles})
	}
	check := &steps.Check{PermissionSets: map[string]map[string]bool{}, Policies: map[string]map[string]bool{}}
	for _, l := range opts.Compiled.Envs {
		sets := map[string]bool{}
		for _, ps := range l.Env.PermissionSets {
			sets[ps.Name] = true
		}
		check.PermissionSets[l.Env.Name] = sets
		check.Policies[l.Env.Name] = policyNames(rendered[l.Env.Name])
	}
	problems, scenarios := preflight(infos, envs, opts.DefaultEnv, check)
	if len(problems) > 0 {
		return nil, &InputError{problems}
	}
	if scenarios == 0 {
		what := "the feature files hold no scenario"
		if opts.Tags != "" {
			what = fmt.Sprintf("no scenario matches --tags %q (godog tag expressions: @a, ~@a for not, && for and, \",\" for or)", opts.Tags)
		}
		return nil, &InputError{[]string{"nothing to run: " + what + " in " + strings.Join(opts.Features, ", ")}}
	}
	if status := ts.Run(); status == 2 {
		return nil, &InputError{[]string{"godog could not run the features (see the messages above)"}}
	}
	if backendErr != nil {
		return nil, backendErr
	}
	fs, err := report.Parse(cucumber.Bytes())
	if err != nil {
		return nil, err
	}
	res := &Result{Summary: report.Summarize(fs)}
	switch opts.Format {
	case FormatCucumber:
		_, err = opts.Out.Write(cucumber.Bytes())
	case FormatJUnit:
		err = report.JUnit(opts.Out, "guardrail", fs)
	default:
		c := report.Colors{}
		if opts.Color {
			c = report.ANSI
		}
		if opts.FailuresOnly {
			err = report.PrettyFailures(opts.Out, fs, c)
		} else {
			err = report.Pretty(opts.Out, fs, c)
		}
	}
	return res, err
}

// featureInfo is what preflight needs of a parsed feature.
type featureInfo struct {
	doc     *messages.GherkinDocument
	uri     string
	pickles []*messages.Pickle
}

// preflight checks every step of every scenario against the vocabulary: an undefined or
// ambiguous step is an error with file:line and the nearest known steps. It also checks the
// environments the scenarios name.
func preflight(features []featureInfo, envs map[string]bool, defaultEnv string, check *steps.Check) (problems []string, scenarios int) {
	for _, f := range features {
		uri := f.uri
		lines := stepLines(f.doc)
		for _, p := range f.pickles {
			scenarios++
			env := defaultEnv
			// After an unknown environment or an undefined step (which may have been the
			// environment step), the scenario's environment is unknown: its other steps are
			// not checked against one, so that one mistake gives one problem.
			envUnknown := false
			for _, st := range p.Steps {
				line := 0
				if len(st.AstNodeIds) > 0 {
					line = lines[st.AstNodeIds[0]]
				}
				at := fmt.Sprintf("%s:%d", uri, line)
				if len(st.AstNodeIds) > 1 { // a Scenario Outline step: name the Examples row too
					at = fmt.Sprintf("%s:%d (Examples row at line %d)", uri, line, lines[st.AstNodeIds[1]])
				}
				if ph := placeholder.FindString(st.Text); ph != "" {
					problems = append(problems, fmt.Sprintf("%s: %s in %q is not filled in: add a column %s to the Examples table of the Scenario Outline", at, ph, st.Text, strings.Trim(ph, "<>")))
					continue
				}
				m := steps.Match(st.Text)
				switch len(m) {
				case 1:
				case 0:
					problems = append(problems, fmt.Sprintf("%s: undefined step %q; did you mean one of:\n    %s\n  (guardrail steps lists them all)",
						at, st.Text, strings.Join(steps.Nearest(st.Text, 3), "\n    ")))
					envUnknown = envUnknown || env == ""
					continue
				default:
					var pats []string
					for _, s := range m {
						pats = append(pats, s.Example)
					}
					problems = append(problems, fmt.Sprintf("%s: ambiguous step %q matches %s", at, st.Text, strings.Join(pats, " and ")))
					continue
				}
				if problem := argumentProblem(m[0], st); problem != "" {
					problems = append(problems, fmt.Sprintf("%s: %s", at, problem))
				}
				if name, ok := environmentOf(st.Text); ok {
					if !envs[name] {
						problems = append(problems, fmt.Sprintf("%s: unknown environment %q; compiled: %s", at, name, strings.Join(sortedKeys(envs), ", ")))
						env, envUnknown = "", true
						continue
					}
					env, envUnknown = name, false
					continue
				}
				if envUnknown {
					continue
				}
				if env == "" {
					problems = append(problems, fmt.Sprintf("%s: no environment for %q: add Given the environment \"<name>\" (compiled: %s), or run with --env", at, st.Text, strings.Join(sortedKeys(envs), ", ")))
					continue
				}
				check.Env = env
				if err := m[0].Validate(check, st.Text); err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", at, err))
				}
			}
		}
	}
	return dedupe(problems), scenarios
}

// argumentProblem says what is wrong with the doc string or data table under a step: missing
// where the step needs one, present where it takes none (godog would ignore it or fail at run
// time); "" when it is right.
func argumentProblem(def *steps.Step, st *messages.PickleStep) string {
	hasDoc := st.Argument != nil && st.Argument.DocString != nil
	hasTable := st.Argument != nil && st.Argument.DataTable != nil
	switch {
	case def.Arg == "docstring" && !hasDoc:
		return fmt.Sprintf("step %q needs a doc string: put the object on the lines after it, between two lines of \"\"\"", st.Text)
	case def.Arg == "table" && !hasTable:
		return fmt.Sprintf("step %q needs a data table: put its rows (| a | b |) on the lines after it", st.Text)
	case def.Arg != "docstring" && hasDoc:
		return fmt.Sprintf("step %q takes no doc string: remove the \"\"\" block under it", st.Text)
	case def.Arg != "table" && hasTable:
		return fmt.Sprintf("step %q takes no data table: remove the | rows under it", st.Text)
	}
	return ""
}

var (
	placeholder = regexp.MustCompile(`<[A-Za-z_][\w .-]*>`)
	envStep     = regexp.MustCompile(`^the environment "([^"]*)"$`)
	parserError = regexp.MustCompile(`\((\d+):(\d+)\): (.*)`)
)

func environmentOf(text string) (string, bool) {
	m := envStep.FindStringSubmatch(text)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// parserProblems turns godog's "file - Parser errors:\n(line:col): message" into one
// file:line:col: message a problem.
func parserProblems(err error) []string {
	text := err.Error()
	file, rest, ok := strings.Cut(text, " - ")
	if !ok {
		return []string{text}
	}
	var out []string
	for _, line := range strings.Split(rest, "\n") {
		if m := parserError.FindStringSubmatch(line); m != nil {
			out = append(out, fmt.Sprintf("%s:%s:%s: syntax error: %s", file, m[1], m[2], m[3]))
		}
	}
	if len(out) == 0 {
		return []string{text}
	}
	return out
}

// policyNames lists the Kyverno policies of a rendered overlay.
func policyNames(rendered []byte) map[string]bool {
	out := map[string]bool{}
	for _, doc := range strings.Split(string(rendered), "\n---\n") {
		var o struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if yaml.Unmarshal([]byte(doc), &o) == nil && (o.Kind == "ClusterPolicy" || o.Kind == "ValidatingPolicy") {
			out[o.Metadata.Name] = true
		}
	}
	return out
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// stepLines maps each step's AST id to its line.
func stepLines(doc *messages.GherkinDocument) map[string]int {
	out := map[string]int{}
	if doc == nil || doc.Feature == nil {
		return out
	}
	addSteps := func(ss []*messages.Step) {
		for _, s := range ss {
			out[s.Id] = int(s.Location.Line)
		}
	}
	addRows := func(sc *messages.Scenario) {
		for _, ex := range sc.Examples {
			for _, row := range ex.TableBody {
				out[row.Id] = int(row.Location.Line)
			}
		}
	}
	var walk func(children []*messages.FeatureChild)
	walk = func(children []*messages.FeatureChild) {
		for _, c := range children {
			if c.Background != nil {
				addSteps(c.Background.Steps)
			}
			if c.Scenario != nil {
				addSteps(c.Scenario.Steps)
				addRows(c.Scenario)
			}
			if c.Rule != nil {
				for _, rc := range c.Rule.Children {
					if rc.Background != nil {
						addSteps(rc.Background.Steps)
					}
					if rc.Scenario != nil {
						addSteps(rc.Scenario.Steps)
						addRows(rc.Scenario)
					}
				}
			}
		}
	}
	walk(doc.Feature.Children)
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// tagTerm is one term of a godog tag expression: a tag, or ~ and a tag for "not".
var tagTerm = regexp.MustCompile(`^~?@[^\s,&~@()]+$`)

// CheckTags checks a godog tag expression: terms joined by "&&" (and), alternatives by ","
// (or), each term @tag or ~@tag (not). godog has no parentheses and fails on an empty term.
func CheckTags(expr string) error {
	if strings.TrimSpace(expr) == "" {
		if expr != "" {
			return fmt.Errorf("--tags %q is blank: give a tag expression such as @guardrail or ~@slow, or leave --tags out", expr)
		}
		return nil
	}
	for _, alt := range strings.Split(expr, ",") {
		for _, term := range strings.Split(alt, "&&") {
			t := strings.TrimSpace(term)
			if !tagTerm.MatchString(t) {
				what := fmt.Sprintf("%q is not a tag", t)
				if t == "" {
					what = "a term is empty"
				}
				return fmt.Errorf("--tags %q: %s; godog tag expressions are terms @tag or ~@tag (not), joined by && (and) or , (or), without parentheses: for example \"@guardrail && ~@slow\"", expr, what)
			}
		}
	}
	return nil
}
