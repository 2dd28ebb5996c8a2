package local

import (
	"context"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"guardrail.dev/guardrail/simulator/backend"
)

// Helpers shared with the kubeconfig backend, which talks to a cluster the same way.

// ParseDenial finds the denying policies, among the known ones, in a Kyverno denial message.
func ParseDenial(msg string, policies []string) []backend.AdmissionResult {
	return parseDenial(msg, policies)
}

// RulesMatch reports whether a webhook's rules match an admission request (operation, group
// and resource; selectors and match conditions are not evaluated).
func RulesMatch(rules []admissionregistrationv1.RuleWithOperations, req *admissionv1.AdmissionRequest) bool {
	return rulesMatch(rules, req)
}

// PostReview sends an AdmissionReview to a webhook URL (with its CA bundle) and returns the
// denial message and whether it denied.
func PostReview(ctx context.Context, url string, caBundle, review []byte) (string, bool, error) {
	return postReview(ctx, url, caBundle, review)
}
