package webhook_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"guardrail.dev/guardrail/compiler/load"
	"guardrail.dev/guardrail/simulator/authz"
	"guardrail.dev/guardrail/simulator/backend/offline"
	"guardrail.dev/guardrail/simulator/identity"
	"guardrail.dev/guardrail/simulator/webhook"
)

func setup(t *testing.T) (*webhook.Server, *webhook.Serving, *http.Client, map[string]*identity.Identity) {
	t.Helper()
	src, err := load.ReadPaths([]string{"../../environments/dev.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	loaded, ds := load.Load(src)
	if len(ds.Errors(false)) > 0 {
		t.Fatal(ds)
	}
	env := loaded[0].Env
	a, err := authz.New(authz.RBACObjects{}, offline.Associations(env))
	if err != nil {
		t.Fatal(err)
	}
	s := webhook.New(env, a)
	serving, err := s.Serve()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serving.Close() })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(serving.CAPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	ids := map[string]*identity.Identity{}
	for _, who := range [][2]string{{"alice@example.com", "Developer"}, {"john.doe@example.com", "DevOps_Admin"}} {
		id, err := identity.Authenticate(env, identity.Principal{Kind: identity.SSO, SSOUser: who[0], PermissionSet: who[1]}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[who[0]] = id
	}
	return s, serving, client, ids
}

func post(t *testing.T, c *http.Client, url string, in, out any) {
	t.Helper()
	b, _ := json.Marshal(in)
	resp, err := c.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: status %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

func TestTokenReview(t *testing.T) {
	s, serving, c, ids := setup(t)
	token := s.Register(ids["alice@example.com"])
	if again := s.Register(ids["alice@example.com"]); again != token {
		t.Error("the same identity got two tokens")
	}
	var tr authenticationv1.TokenReview
	post(t, c, serving.URL+webhook.PathAuthenticate, authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, &tr)
	u := tr.Status.User
	if !tr.Status.Authenticated || u.Username != "dev:alice-example.com" || strings.Join(u.Groups, ",") != "developers" ||
		u.Extra["sessionName"][0] != "alice@example.com" {
		t.Errorf("status = %+v", tr.Status)
	}
	var unknown authenticationv1.TokenReview
	post(t, c, serving.URL+webhook.PathAuthenticate, authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "nope"}}, &unknown)
	if unknown.Status.Authenticated || unknown.Status.Error == "" {
		t.Errorf("unknown token: %+v", unknown.Status)
	}
}

func TestSubjectAccessReview(t *testing.T) {
	s, serving, c, ids := setup(t)
	s.Register(ids["alice@example.com"])
	s.Register(ids["john.doe@example.com"])
	cases := []struct {
		user, verb, resource, ns string
		allowed                  bool
	}{
		{"dev:alice-example.com", "list", "pods", "app-other", true},      // AmazonEKSViewPolicy on app-*
		{"dev:alice-example.com", "get", "secrets", "app-other", false},   // the view policy has no secrets
		{"dev:alice-example.com", "list", "pods", "default", false},       // outside the scope
		{"devops-john.doe-example.com", "list", "pods", "default", false}, // aws-auth: no access policies
	}
	for _, tc := range cases {
		var sar authorizationv1.SubjectAccessReview
		post(t, c, serving.URL+webhook.PathAuthorize, authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: tc.user, Groups: []string{"system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: tc.verb, Resource: tc.resource, Namespace: tc.ns, Version: "v1"},
		}}, &sar)
		if sar.Status.Allowed != tc.allowed || sar.Status.Denied {
			t.Errorf("%+v: status %+v", tc, sar.Status)
		}
	}
}

func TestPodIdentityMutation(t *testing.T) {
	_, serving, c, _ := setup(t)
	review := func(ns, sa string) *admissionv1.AdmissionResponse {
		pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
		raw, _ := json.Marshal(pod)
		var out admissionv1.AdmissionReview
		post(t, c, serving.URL+webhook.PathMutatePods, admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request:  &admissionv1.AdmissionRequest{UID: "u1", Namespace: ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
		}, &out)
		return out.Response
	}
	r := review("loki", "loki")
	if r == nil || !r.Allowed || r.UID != "u1" || r.PatchType == nil || !bytes.Contains(r.Patch, []byte("AWS_CONTAINER_CREDENTIALS_FULL_URI")) || !bytes.Contains(r.Patch, []byte("eks-pod-identity-token")) {
		t.Errorf("loki/loki: %+v", r)
	}
	if r := review("loki", "default"); r == nil || !r.Allowed || r.Patch != nil {
		t.Errorf("loki/default must not be patched: %+v", r)
	}
}

func TestKubeconfig(t *testing.T) {
	_, serving, _, _ := setup(t)
	k := string(serving.Kubeconfig(webhook.PathAuthenticate))
	if !strings.Contains(k, "server: "+serving.URL+"/authenticate\n") || !strings.Contains(k, "certificate-authority-data: ") {
		t.Errorf("kubeconfig:\n%s", k)
	}
}
