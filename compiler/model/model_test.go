package model

import "testing"

// TestExpand: expected values worked out by hand from aws-iam-authenticator's template rules.
func TestExpand(t *testing.T) {
	const session, account = "john.doe@example.com", "123456789012"
	tests := []struct{ tmpl, want string }{
		{"devops-{{SessionName}}", "devops-john.doe-example.com"},
		{"raw:{{SessionNameRaw}}", "raw:john.doe@example.com"},
		{"{{AccountID}}:{{SessionName}}:{{SessionNameRaw}}", "123456789012:john.doe-example.com:john.doe@example.com"},
		{"{{SessionName}}{{SessionName}}", "john.doe-example.com" + "john.doe-example.com"},
		{"{{{SessionName}}}", "{john.doe-example.com}"},
		{"x-{{Unknown}}-{{SessionName", "x-{{Unknown}}-{{SessionName"},
		{"ends-with-{{", "ends-with-{{"},
		{"plain", "plain"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Expand(tt.tmpl, session, account); got != tt.want {
			t.Errorf("Expand(%q) = %q, want %q", tt.tmpl, got, tt.want)
		}
	}
}
