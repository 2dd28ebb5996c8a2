package live

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"guardrail.dev/guardrail/simulator/backend"
)

// KyvernoPolicyWebhook is the webhook configuration with which Kyverno validates policies
// themselves; Replay leaves it out.
const KyvernoPolicyWebhook = "kyverno-policy-validating-webhook-cfg"

// Replay sends review (an AdmissionReview of a request that was denied) to every Kyverno
// validating webhook of the cluster whose rules match it, and returns every denying policy
// in Kyverno's words, sorted by policy. ok is false when no webhook could be asked or none
// denied; the caller then keeps what the API server said. The review must be a dry run:
// Kyverno stores nothing for it.
func Replay(ctx context.Context, admin kubernetes.Interface, review []byte, policies []string) (results []backend.AdmissionResult, ok bool) {
	var r admissionv1.AdmissionReview
	if json.Unmarshal(review, &r) != nil || r.Request == nil {
		return nil, false
	}
	cfgs, err := admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, false
	}
	for _, cfg := range cfgs.Items {
		if cfg.Name == KyvernoPolicyWebhook {
			continue
		}
		for _, wh := range cfg.Webhooks {
			if !strings.Contains(wh.Name, "kyverno") || !RulesMatch(wh.Rules, r.Request) {
				continue
			}
			msg, denied, err := Post(ctx, admin, wh.ClientConfig, review)
			if err != nil {
				return nil, false
			}
			if denied {
				results = MergeResults(results, ParseDenial("admission webhook \""+wh.Name+"\" denied the request: "+msg, policies))
			}
		}
	}
	return results, len(results) > 0
}

// RulesMatch reports whether a webhook's rules match an admission request (operation, group
// and resource; selectors and match conditions are left to the webhook).
func RulesMatch(rules []admissionregistrationv1.RuleWithOperations, req *admissionv1.AdmissionRequest) bool {
	res := req.Resource.Resource
	if req.SubResource != "" {
		res += "/" + req.SubResource
	}
	for _, r := range rules {
		opOK := false
		for _, op := range r.Operations {
			if op == admissionregistrationv1.OperationAll || string(op) == string(req.Operation) {
				opOK = true
			}
		}
		if !opOK || !(slices.Contains(r.APIGroups, "*") || slices.Contains(r.APIGroups, req.Resource.Group)) {
			continue
		}
		for _, x := range r.Resources {
			if x == "*/*" || x == res || (x == "*" && req.SubResource == "") ||
				(strings.HasSuffix(x, "/*") && strings.TrimSuffix(x, "/*") == req.Resource.Resource && req.SubResource != "") ||
				(strings.HasPrefix(x, "*/") && req.SubResource == strings.TrimPrefix(x, "*/")) {
				return true
			}
		}
	}
	return false
}

// Post sends an AdmissionReview to a webhook, by its URL (verified with its CA bundle) or
// through the API server's service proxy as admin, and returns the denial message and
// whether it denied.
func Post(ctx context.Context, admin kubernetes.Interface, cc admissionregistrationv1.WebhookClientConfig, review []byte) (string, bool, error) {
	var body []byte
	var err error
	switch {
	case cc.URL != nil:
		body, err = postURL(ctx, *cc.URL, cc.CABundle, review)
	case cc.Service != nil:
		s := cc.Service
		port := int32(443)
		if s.Port != nil {
			port = *s.Port
		}
		path := ""
		if s.Path != nil {
			path = *s.Path
		}
		body, err = admin.CoreV1().RESTClient().Post().
			AbsPath(fmt.Sprintf("/api/v1/namespaces/%s/services/https:%s:%d/proxy%s", s.Namespace, s.Name, port, path)).
			SetHeader("Content-Type", "application/json").Body(review).Do(ctx).Raw()
	default:
		return "", false, fmt.Errorf("webhook without URL or service")
	}
	if err != nil {
		return "", false, err
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &out); err != nil || out.Response == nil {
		return "", false, fmt.Errorf("webhook: no AdmissionReview response")
	}
	if out.Response.Allowed {
		return "", false, nil
	}
	msg := ""
	if out.Response.Result != nil {
		msg = out.Response.Result.Message
	}
	return msg, true, nil
}

func postURL(ctx context.Context, url string, caBundle, review []byte) ([]byte, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caBundle)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(review))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return body, nil
}
