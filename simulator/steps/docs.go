package steps

import (
	"bytes"
	"fmt"
	"strings"
)

// Markdown documents the vocabulary: docs/steps.md.
func Markdown() []byte {
	var b bytes.Buffer
	b.WriteString("# Step vocabulary\n\n")
	b.WriteString("<!-- Generated from simulator/steps by `make docs` (also: guardrail steps). Do not edit. -->\n\n")
	b.WriteString("Scenarios in `features/*.feature` are written with these steps, and only these: ")
	b.WriteString("`guardrail simulate` refuses an undefined or ambiguous step, naming its file and line and the nearest known steps. ")
	b.WriteString("Words in quotes are yours to choose. `Given`, `When`, `Then`, `And` and `But` are interchangeable; use them as they read best. ")
	b.WriteString("A Scenario Outline with an Examples table runs a step once per row: write `<column>` where a value goes.\n\n")
	b.WriteString("A complete scenario:\n\n```gherkin\nFeature: testnamespace is protected\n\n  Background:\n    Given the environment \"dev\"\n\n")
	b.WriteString("  Scenario: elon cannot delete in testnamespace\n    Given I am \"elon.musk@example.com\" using permission set \"Cell_Infra_Admin\"\n")
	b.WriteString("    When I delete configmap \"settings\" in namespace \"testnamespace\"\n    Then it is denied by policy \"guardrail-elon-cannot-touch-testnamespace\"\n")
	b.WriteString("    And the message contains \"may not change anything in testnamespace\"\n```\n\n")
	group := ""
	for _, st := range Vocabulary {
		if st.Group != group {
			group = st.Group
			fmt.Fprintf(&b, "## %s\n\n", group)
		}
		fmt.Fprintf(&b, "### %s\n\n%s\n\n```gherkin\n%s\n", title(st.Pattern), st.Doc, st.Example)
		switch st.Arg {
		case "docstring":
			fmt.Fprintf(&b, "  \"\"\"\n%s\n  \"\"\"\n", indentBlock(st.ArgExample, "  "))
		case "table":
			fmt.Fprintf(&b, "%s\n", indentBlock(st.ArgExample, "  "))
		}
		fmt.Fprintf(&b, "```\n\nPattern: `%s`\n\n", st.Pattern)
	}
	return b.Bytes()
}

func indentBlock(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

// title renders a step pattern for a heading: captures become <value>.
func title(pattern string) string {
	t := strings.TrimSuffix(strings.TrimPrefix(pattern, "^"), "$")
	for _, r := range []struct{ from, to string }{
		{`"([^"]*)/([^"]*)"`, `"<namespace>/<name>"`},
		{`(?: in (?:the )?namespace "([^"]*)")?`, ` [in namespace "…"]`},
		{`(?: "([^"]*)")?`, ` ["<name>"]`},
		{`"([^"]*)"`, `"…"`},
		{`(?:an? |the )?([A-Za-z][\w./-]*)`, `<kind or resource>`},
		{`(get|list|watch|create|update|patch|delete|deletecollection|impersonate|bind|escalate|approve|use)`, `<verb>`},
		{`(create|update|delete)`, `<create, update or delete>`},
		{`(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (/\S*)`, `<METHOD> </path>`},
		{`(RBAC|system:masters)`, `<RBAC or system:masters>`},
		{`groups?`, `group(s)`},
	} {
		t = strings.ReplaceAll(t, r.from, r.to)
	}
	return "`" + t + "`"
}
