// Package live is what the backends that talk to a real API server share: the local control
// plane, kind and any kubeconfig.
//
//   - Requests (this file): sending an action to the API server as a client configuration,
//     and mapping the answer to a verdict: 401 is authentication, a 403 "cannot" is
//     authorization, an admission webhook denial is admission, anything else got through.
//   - Replay: the API server names only the first webhook that denied (whichever answered
//     first); Replay sends the same AdmissionReview to every Kyverno validating webhook whose
//     rules match, by URL or through the API server's service proxy, to name every denying
//     policy.
//   - Cluster: a cluster whose API server calls guardrail's EKS webhooks (token
//     authentication, access-policy authorization, Pod Identity), where every scenario
//     identity calls the API server with its own bearer token. The local and kind backends are
//     a Cluster plus how they start and stop the API server.
package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"guardrail.dev/guardrail/simulator/backend"
	"guardrail.dev/guardrail/simulator/identity"
)

// ResourceVerb reports whether the verb is sent as a request of its own; the others
// (impersonate, bind, escalate, deletecollection) are asked as access reviews.
func ResourceVerb(verb string) bool {
	switch verb {
	case "get", "list", "watch", "create", "update", "patch", "delete":
		return true
	}
	return false
}

// Resources is the dynamic client of the action's resource, in its namespace when namespaced.
func Resources(dyn dynamic.Interface, a backend.Action) dynamic.ResourceInterface {
	if a.Resource.Namespaced {
		return dyn.Resource(a.Resource.GVR).Namespace(a.Namespace)
	}
	return dyn.Resource(a.Resource.GVR)
}

// Read sends a get (of the named object), list (one item) or watch (one second); a missing
// object got past authorization and is not an error.
func Read(ctx context.Context, ri dynamic.ResourceInterface, a backend.Action) error {
	var err error
	switch {
	case a.Verb == "get" && a.Name != "":
		_, err = ri.Get(ctx, a.Name, metav1.GetOptions{})
	case a.Verb == "watch":
		timeout := int64(1)
		var w interface{ Stop() }
		if w, err = ri.Watch(ctx, metav1.ListOptions{TimeoutSeconds: &timeout}); err == nil {
			w.Stop()
		}
	default:
		_, err = ri.List(ctx, metav1.ListOptions{Limit: 1})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// NonResource requests a non-resource URL with the configuration; a failure is an API status
// error with the response's status code and message. Statuses past authorization (404 and
// friends) come back as nil.
func NonResource(ctx context.Context, cfg *rest.Config, a backend.Action) error {
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, verbMethod(a.Verb), strings.TrimSuffix(cfg.Host, "/")+a.NonResourcePath, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		return nil
	}
	st := metav1.Status{}
	if json.Unmarshal(body, &st) != nil || st.Message == "" {
		st.Message = strings.TrimSpace(string(body))
	}
	st.Status, st.Code = metav1.StatusFailure, int32(resp.StatusCode)
	return &apierrors.StatusError{ErrStatus: st}
}

func verbMethod(verb string) string {
	switch verb {
	case "get", "list", "watch", "":
		return http.MethodGet
	case "create":
		return http.MethodPost
	case "update":
		return http.MethodPut
	}
	return strings.ToUpper(verb)
}

// AccessReview asks a SelfSubjectAccessReview of the action with the configuration. A
// denial comes back as the verdict's authorization layer; an error of the review itself is
// returned as is.
func AccessReview(ctx context.Context, cfg *rest.Config, id *identity.Identity, a backend.Action) (allowed bool, reason string, err error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return false, "", err
	}
	sar := &authorizationv1.SelfSubjectAccessReview{}
	if a.NonResourcePath != "" {
		sar.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: a.NonResourcePath, Verb: a.Verb}
	} else {
		sar.Spec.ResourceAttributes = &authorizationv1.ResourceAttributes{
			Namespace: a.Namespace, Verb: a.Verb, Group: a.Resource.GVR.Group, Version: a.Resource.GVR.Version,
			Resource: a.Resource.GVR.Resource, Subresource: a.Resource.Subresource, Name: a.Name,
		}
	}
	res, err := kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return false, "", err
	}
	if res.Status.Allowed {
		return true, "", nil
	}
	reason = res.Status.Reason
	if reason == "" {
		reason = fmt.Sprintf("%s cannot %s", id.Username, a)
	}
	return false, reason, nil
}

// Grant says what allowed a request at authorization: its layer (system:masters, rbac or
// access-policy) and what to show.
type Grant func() (layer, grant string)

// Verdict maps the API server's answer to a request (err, nil when it succeeded) onto v.
// policies are the Kyverno policies the cluster holds, to find in a denial message.
func Verdict(v backend.Verdict, err error, policies []string, grant Grant) backend.Verdict {
	if err == nil {
		v.Allowed = true
		v.GrantLayer, v.Grant = grant()
		return v
	}
	var status apierrors.APIStatus
	msg := err.Error()
	code := int32(0)
	if errors.As(err, &status) {
		msg, code = status.Status().Message, status.Status().Code
	}
	switch {
	case code == http.StatusUnauthorized:
		v.Identity = nil
		v.Layer, v.Reason, v.Message = backend.LayerAuthentication, msg, "Unauthorized"
	case strings.Contains(msg, "admission webhook") && strings.Contains(msg, "denied the request"):
		v.GrantLayer, v.Grant = grant()
		v.Layer, v.Reason = backend.LayerAdmission, msg
		v.Admission = ParseDenial(msg, policies)
		v.Message = Messages(v.Admission)
		if v.Message == "" {
			v.Message = msg
		}
	case code == http.StatusForbidden && strings.Contains(msg, "cannot "):
		v.Layer, v.Reason, v.Message = backend.LayerAuthorization, msg, msg
	default:
		// Any other error comes after authorization and admission (no host for exec, an
		// object that already exists, ...): the request got through.
		v.Allowed = true
		v.GrantLayer, v.Grant = grant()
		v.Message = msg
	}
	return v
}

// Messages joins the results' messages as the client sees them.
func Messages(results []backend.AdmissionResult) string {
	var msgs []string
	for _, r := range results {
		msgs = append(msgs, r.Message)
	}
	return strings.Join(msgs, "; ")
}

// WebhookUnreachable reports whether err says the API server could not call a webhook, which
// is a broken setup rather than a verdict.
func WebhookUnreachable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "failed calling webhook")
}

// ParseDenial finds the denying policies, among the known ones, in Kyverno's message. A
// ClusterPolicy denial reads
//
//	... denied the request: \n\nresource Kind/ns/name was blocked due to the following policies\n\npolicy:\n  rule: message
//
// and a ValidatingPolicy denial names the policy with its message.
func ParseDenial(msg string, policies []string) []backend.AdmissionResult {
	known := map[string]bool{}
	for _, p := range policies {
		known[p] = true
	}
	var out []backend.AdmissionResult
	seen := map[string]bool{}
	current := ""
	for _, line := range strings.Split(msg, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasSuffix(t, ":") && known[strings.TrimSuffix(t, ":")] && !strings.HasPrefix(line, " ") {
			current = strings.TrimSuffix(t, ":")
			continue
		}
		if current != "" && strings.HasPrefix(line, " ") {
			rule, m, _ := strings.Cut(t, ": ")
			out = append(out, backend.AdmissionResult{Policy: current, Name: current, Rule: rule, Status: "fail", Message: strings.Trim(m, "'"), Enforce: true, Denies: true})
			seen[current] = true
		}
	}
	// Other formats: every known policy the message names (longest first, so a name that is a
	// prefix of another is not counted twice).
	names := append([]string(nil), policies...)
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	rest := msg
	for _, n := range names {
		if seen[n] || !strings.Contains(rest, n) {
			continue
		}
		rest = strings.ReplaceAll(rest, n, "")
		m := msg
		if _, after, ok := strings.Cut(msg, "denied the request: "); ok {
			m = strings.TrimSpace(after)
		}
		out = append(out, backend.AdmissionResult{Policy: n, Name: n, Status: "fail", Message: m, Enforce: true, Denies: true})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// MergeResults adds to a the results of b it lacks (by policy and rule), sorted by policy.
func MergeResults(a, b []backend.AdmissionResult) []backend.AdmissionResult {
	seen := map[string]bool{}
	var out []backend.AdmissionResult
	for _, r := range append(append([]backend.AdmissionResult(nil), a...), b...) {
		k := r.Name + "\x00" + r.Rule
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
