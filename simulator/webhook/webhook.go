// Package webhook serves EKS to a real API server: the token authentication webhook that
// maps each scenario identity's bearer token to the Kubernetes identity EKS would give it
// (package identity), the authorization webhook that grants EKS access policies (placed after
// RBAC, as on EKS; it allows or has no opinion, never denies), and the mutating admission
// webhook that does to pods what EKS Pod Identity does (package podidentity).
//
// Start with New, register identities, then Serve.
package webhook

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/authentication/user"

	"guardrail.dev/guardrail/compiler/model"
	"guardrail.dev/guardrail/simulator/authz"
	"guardrail.dev/guardrail/simulator/identity"
	"guardrail.dev/guardrail/simulator/podidentity"
)

// Paths the server answers.
const (
	PathAuthenticate = "/authenticate"
	PathAuthorize    = "/authorize"
	PathMutatePods   = "/mutate-pods"
)

// Server is the EKS webhook server of one environment. It is safe for concurrent use.
type Server struct {
	env   *model.Env
	authz *authz.Authorizer

	mu       sync.RWMutex
	byToken  map[string]*identity.Identity
	byUser   map[string]*identity.Identity
	tokenFor map[string]string
}

// New returns a server for the environment; authorizer supplies the access policy decisions.
func New(env *model.Env, authorizer *authz.Authorizer) *Server {
	return &Server{env: env, authz: authorizer, byToken: map[string]*identity.Identity{}, byUser: map[string]*identity.Identity{}, tokenFor: map[string]string{}}
}

// Register makes a bearer token that authenticates as the identity and returns it; the
// same identity gets the same token.
func (s *Server) Register(id *identity.Identity) string {
	key := id.Username + "\x00" + id.UID
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokenFor[key]; ok {
		return t
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	t := "guardrail-" + hex.EncodeToString(b)
	s.tokenFor[key], s.byToken[t], s.byUser[id.Username] = t, id, id
	return t
}

// Handler routes the three webhooks.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathAuthenticate, s.authenticate)
	mux.HandleFunc("POST "+PathAuthorize, s.authorize)
	mux.HandleFunc("POST "+PathMutatePods, s.mutatePods)
	return mux
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// authenticate answers a TokenReview. The API server adds system:authenticated itself, so it
// is left out here.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) {
	var tr authenticationv1.TokenReview
	if !decode(w, r, &tr) {
		return
	}
	s.mu.RLock()
	id := s.byToken[tr.Spec.Token]
	s.mu.RUnlock()
	tr.Status = authenticationv1.TokenReviewStatus{}
	if id == nil {
		tr.Status.Error = "unknown token: the principal is not mapped by an access entry or aws-auth row"
	} else {
		var groups []string
		for _, g := range id.Groups {
			if g != user.AllAuthenticated {
				groups = append(groups, g)
			}
		}
		extra := map[string]authenticationv1.ExtraValue{}
		for k, v := range id.Extra {
			extra[k] = v
		}
		tr.Status.Authenticated = true
		tr.Status.User = authenticationv1.UserInfo{Username: id.Username, UID: id.UID, Groups: groups, Extra: extra}
	}
	tr.Spec = authenticationv1.TokenReviewSpec{}
	reply(w, tr)
}

// authorize answers a SubjectAccessReview from the EKS access policies of the user's access
// entry: allowed, or no opinion.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	var sar authorizationv1.SubjectAccessReview
	if !decode(w, r, &sar) {
		return
	}
	s.mu.RLock()
	id := s.byUser[sar.Spec.User]
	s.mu.RUnlock()
	sar.Status = authorizationv1.SubjectAccessReviewStatus{}
	if id == nil || id.AccessEntryARN == "" {
		sar.Status.Reason = "EKS access policies: the user did not authenticate through an access entry"
		reply(w, sar)
		return
	}
	extra := map[string][]string{}
	for k, v := range sar.Spec.Extra {
		extra[k] = v
	}
	req := authz.Request{
		User:         &user.DefaultInfo{Name: sar.Spec.User, UID: sar.Spec.UID, Groups: sar.Spec.Groups, Extra: extra},
		PrincipalARN: id.AccessEntryARN,
	}
	if ra := sar.Spec.ResourceAttributes; ra != nil {
		req.Verb, req.APIGroup, req.Resource, req.Subresource, req.Name, req.Namespace = ra.Verb, ra.Group, ra.Resource, ra.Subresource, ra.Name, ra.Namespace
	} else if nra := sar.Spec.NonResourceAttributes; nra != nil {
		req.Verb, req.NonResourcePath = nra.Verb, nra.Path
	}
	d := s.authz.AuthorizeAccessPolicies(r.Context(), req)
	sar.Status.Allowed = d.Allowed
	if d.Allowed {
		sar.Status.Reason = d.Reason
	} else {
		sar.Status.Reason = fmt.Sprintf("EKS access policies: no opinion (%v)", d.Checked)
	}
	reply(w, sar)
}

// mutatePods answers an AdmissionReview for pods with the Pod Identity patch.
func (s *Server) mutatePods(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if !decode(w, r, &review) || review.Request == nil {
		if review.Request == nil {
			http.Error(w, "bad request: no request in the AdmissionReview", http.StatusBadRequest)
		}
		return
	}
	resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	var pod corev1.Pod
	if err := json.Unmarshal(review.Request.Object.Raw, &pod); err == nil {
		if pod.Namespace == "" {
			pod.Namespace = review.Request.Namespace
		}
		if patch, err := podidentity.Patch(&pod, s.env); err == nil && patch != nil {
			pt := admissionv1.PatchTypeJSONPatch
			resp.Patch, resp.PatchType = patch, &pt
		}
	}
	review.Response, review.Request = resp, nil
	reply(w, review)
}

// Serving is a running server.
type Serving struct {
	URL    string // https://127.0.0.1:port
	CAPEM  []byte // the certificate clients must trust
	server *http.Server
}

// Close stops the server.
func (s *Serving) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.server.Shutdown(ctx)
}

// Serve listens on a free loopback port with a fresh self-signed certificate.
func (s *Server) Serve() (*Serving, error) {
	return ServeHandler(net.ParseIP("127.0.0.1"), s.Handler())
}

// ServeHandler serves h over TLS on a free port of ip, with a fresh self-signed certificate for
// ip and 127.0.0.1 (a kind node reaches the host on its bridge gateway, not on loopback).
func ServeHandler(ip net.IP, h http.Handler) (*Serving, error) {
	cert, caPEM, err := selfSigned(ip)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		return nil, fmt.Errorf("failed to listen for webhooks on %s: %w", ip, err)
	}
	srv := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener is ours; nothing else can close it
		}
	}()
	return &Serving{URL: "https://" + ln.Addr().String(), CAPEM: caPEM, server: srv}, nil
}

func selfSigned(ip net.IP) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "guardrail-webhooks"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{ip, net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	return cert, certPEM, err
}

// Kubeconfig returns the kubeconfig the API server's --authentication-token-webhook-config-file
// and --authorization-webhook-config-file take, pointing at path on the server.
func (s *Serving) Kubeconfig(path string) []byte {
	return []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: guardrail
  cluster:
    server: %s%s
    certificate-authority-data: %s
users:
- name: apiserver
contexts:
- name: webhook
  context: {cluster: guardrail, user: apiserver}
current-context: webhook
`, s.URL, path, b64(s.CAPEM)))
}

func b64(b []byte) string {
	return base64.StdEncoding.EncodeToString(b)
}
