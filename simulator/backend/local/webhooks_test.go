package local

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestIntegrationWebhooks wires a token authentication webhook and an authorization webhook
// (what EKS identity will use) and checks the API server consults both, the latter after RBAC.
func TestIntegrationWebhooks(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts kube-apiserver and kube-controller-manager")
	}
	if err := CheckBinaries("", false); err != nil {
		if os.Getenv("GUARDRAIL_REQUIRE_LOCAL") != "" {
			t.Fatal(err)
		}
		t.Skipf("skipping: %v", err)
	}
	const (
		token = "k8s-aws-v1.test-token"
		user  = "cell-infra-elon.musk-example.com"
		group = "guardrail:test"
	)
	var reviews, sars atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/authenticate", func(w http.ResponseWriter, r *http.Request) {
		reviews.Add(1)
		var tr authenticationv1.TokenReview
		if err := json.NewDecoder(r.Body).Decode(&tr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		tr.Status = authenticationv1.TokenReviewStatus{}
		if tr.Spec.Token == token {
			tr.Status.Authenticated = true
			tr.Status.User = authenticationv1.UserInfo{Username: user, UID: "aws-iam-authenticator:123", Groups: []string{group}}
		}
		writeJSON(w, &tr)
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		sars.Add(1)
		var sar authorizationv1.SubjectAccessReview
		if err := json.NewDecoder(r.Body).Decode(&sar); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a := sar.Spec.ResourceAttributes
		sar.Status = authorizationv1.SubjectAccessReviewStatus{}
		if sar.Spec.User == user && a != nil && a.Resource == "configmaps" && a.Verb == "list" && a.Namespace == "loki" {
			sar.Status.Allowed, sar.Status.Reason = true, "test access policy"
		}
		writeJSON(w, &sar)
	})
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cp, err := Start(ctx, Options{Logs: testLogs(), Webhooks: &Webhooks{
		TokenURL:     srv.URL + "/authenticate",
		AuthorizeURL: srv.URL + "/authorize",
		CA:           ca,
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()

	cfg := &rest.Config{Host: cp.Server, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAFile: cp.CAFile}}
	kube := kubernetes.NewForConfigOrDie(cfg)
	ssr, err := kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview with the webhook's token: %v", err)
	}
	if got := ssr.Status.UserInfo; got.Username != user || !slices.Contains(got.Groups, group) || !slices.Contains(got.Groups, "system:authenticated") {
		t.Errorf("authenticated as %+v, want %s in %s", got, user, group)
	}
	if _, err := kube.CoreV1().ConfigMaps("loki").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("list configmaps in loki (allowed by the authorization webhook): %v", err)
	}
	if _, err := kube.CoreV1().Secrets("loki").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list secrets in loki: %v, want forbidden", err)
	}
	bad := kubernetes.NewForConfigOrDie(&rest.Config{Host: cp.Server, BearerToken: "wrong", TLSClientConfig: rest.TLSClientConfig{CAFile: cp.CAFile}})
	if _, err := bad.CoreV1().ConfigMaps("loki").List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Errorf("list with an unknown token: %v, want unauthorized", err)
	}
	// The admin is allowed by RBAC (system:masters), so the authorization webhook is not asked.
	before := sars.Load()
	if _, err := kubernetes.NewForConfigOrDie(cp.RESTConfig()).CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if sars.Load() != before {
		t.Errorf("the authorization webhook was asked about a request RBAC allows")
	}
	t.Logf("token reviews: %d, subject access reviews: %d", reviews.Load(), sars.Load())
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
