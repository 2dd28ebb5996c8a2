// Package steps is the Gherkin step vocabulary of guardrail scenarios: one list of step
// definitions (Vocabulary), each with the pattern godog matches, an example and what it does,
// so docs/steps.md and the undefined-step suggestions come from the same place as the code.
// Steps only talk to a backend.Backend; the same scenarios run offline and live.
package steps

import (
	"regexp"
	"sort"
	"strings"
)

// Step is one step definition.
type Step struct {
	Group      string // heading in docs/steps.md
	Pattern    string // regular expression godog matches against the step text
	Example    string // a step text that matches, shown in the docs and in suggestions
	Doc        string // what the step does
	Arg        string // "docstring" or "table" when the step takes one; its example follows
	ArgExample string
	handler    func(s *scenario) any // returns the function godog calls, bound to the scenario
	check      func(c *Check, args []string) error
	re         *regexp.Regexp
}

// Check is what the pre-flight check of a step knows: the scenario's environment so far.
type Check struct {
	// Env is the environment the step runs against ("" when none is chosen yet).
	Env string
	// PermissionSets and Policies are the names of each environment's.
	PermissionSets map[string]map[string]bool
	Policies       map[string]map[string]bool
}

// Validate checks a step's arguments before anything runs; nil when they are fine.
func (st *Step) Validate(c *Check, text string) error {
	if st.check == nil {
		return nil
	}
	m := st.re.FindStringSubmatch(text)
	if m == nil {
		return nil
	}
	return st.check(c, m[1:])
}

func (st *Step) checked(f func(c *Check, args []string) error) *Step {
	st.check = f
	return st
}

// Vocabulary is every step, in documentation order.
var Vocabulary []*Step

func def(group, pattern, example, doc string, handler func(s *scenario) any) *Step {
	st := &Step{Group: group, Pattern: pattern, Example: example, Doc: doc, handler: handler, re: regexp.MustCompile(pattern)}
	Vocabulary = append(Vocabulary, st)
	return st
}

func (st *Step) withArg(kind, example string) *Step {
	st.Arg, st.ArgExample = kind, example
	return st
}

// Match returns the steps whose pattern matches text.
func Match(text string) []*Step {
	var out []*Step
	for _, st := range Vocabulary {
		if st.re.MatchString(text) {
			out = append(out, st)
		}
	}
	return out
}

// Nearest returns up to n step examples closest to text, for "did you mean" suggestions.
func Nearest(text string, n int) []string {
	type cand struct {
		ex                  string
		shared, dist, chars int
	}
	norm := func(s string) string { return quoted.ReplaceAllString(strings.ToLower(s), `""`) }
	t := norm(text)
	var cs []cand
	for _, st := range Vocabulary {
		e := norm(st.Example)
		cs = append(cs, cand{st.Example, sharedWords(t, e), distance(t, e), charDistance(t, e)})
	}
	// The steps with most words in common first (a short step is otherwise close to any
	// text), then the fewest word edits.
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].shared != cs[j].shared {
			return cs[i].shared > cs[j].shared
		}
		if cs[i].dist != cs[j].dist {
			return cs[i].dist < cs[j].dist
		}
		return cs[i].chars < cs[j].chars // "it is deneid": denied before allowed
	})
	var out []string
	for i := 0; i < n && i < len(cs); i++ {
		out = append(out, cs[i].ex)
	}
	return out
}

var quoted = regexp.MustCompile(`"[^"]*"`)

// charDistance is the letter-level edit distance.
func charDistance(a, b string) int { return editDistance([]byte(a), []byte(b)) }

// sharedWords counts the words a and b have in common, with multiplicity.
func sharedWords(a, b string) int {
	count := map[string]int{}
	for _, w := range strings.Fields(b) {
		count[w]++
	}
	n := 0
	for _, w := range strings.Fields(a) {
		if count[w] > 0 {
			count[w]--
			n++
		}
	}
	return n
}

// distance is the word-level edit distance: steps differ by words, not letters.
func distance(a, b string) int { return editDistance(strings.Fields(a), strings.Fields(b)) }

// editDistance is the Levenshtein distance of two sequences.
func editDistance[T comparable](x, y []T) int {
	prev := make([]int, len(y)+1)
	cur := make([]int, len(y)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(x); i++ {
		cur[0] = i
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(y)]
}
