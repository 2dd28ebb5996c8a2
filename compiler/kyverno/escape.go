package kyverno

import "strings"

// EscapeMessage escapes text so that Kyverno's variable substitution in a ClusterPolicy message (or
// any other rule string) gives it back unchanged: every run of two or more "{" is rewritten so that
// each "{{" in it is preceded by a backslash and Kyverno's final `\{{` → "{{" unescaping restores it
// (see the package documentation). It has no Kyverno dependency: the policy compiler may copy it.
func EscapeMessage(text string) string {
	if !strings.Contains(text, "{{") {
		return text
	}
	var b strings.Builder
	for i := 0; i < len(text); {
		if text[i] != '{' {
			b.WriteByte(text[i])
			i++
			continue
		}
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
	}
	return b.String()
}
