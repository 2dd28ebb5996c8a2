package kyverno

import (
	"regexp"
	"strings"
)

// escapedReference is pkg/engine/variables/regex.RegexEscpReferences: the `\$(...)` that Kyverno
// unescapes to `$(...)`. A `$(` is read as a reference exactly when this matches once a backslash is
// put before it.
var escapedReference = regexp.MustCompile(`^\\\$\(.[^\ \)]*\)`)

// EscapeMessage escapes text so that Kyverno's substitution of a ClusterPolicy message (or of any other
// rule string) gives it back unchanged (see the package documentation):
//
//   - every run of two or more "{" is rewritten so that each "{{" in it is preceded by a backslash:
//     n/2 times `\{{` for an even run, "{" then (n-1)/2 times `\{{` for an odd one; Kyverno's final
//     `\{{` → "{{" restores it;
//   - a backslash goes before every "$(" that Kyverno would read as a reference to another field
//     ("$(" + at least one character + non-spaces + ")"); Kyverno drops it again.
//
// It has no Kyverno dependency: the policy compiler may copy it.
func EscapeMessage(text string) string {
	if !strings.Contains(text, "{{") && !strings.Contains(text, "$(") {
		return text
	}
	var b strings.Builder
	for i := 0; i < len(text); {
		switch {
		case text[i] == '{':
			n := 0
			for i+n < len(text) && text[i+n] == '{' {
				n++
			}
			if n%2 == 1 {
				b.WriteByte('{')
			}
			for k := 0; k < n/2; k++ {
				b.WriteString(`\{{`)
			}
			i += n
		case text[i] == '$' && escapedReference.MatchString(`\`+text[i:]):
			b.WriteString(`\$`)
			i++
		default:
			b.WriteByte(text[i])
			i++
		}
	}
	return b.String()
}
