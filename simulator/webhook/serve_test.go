package webhook_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"guardrail.dev/guardrail/simulator/webhook"
)

// TestServeHandlerCertificate: the webhook server presents a certificate for the address it
// listens on, verified by the CA it returns (what the node's API server checks).
func TestServeHandlerCertificate(t *testing.T) {
	s, err := webhook.ServeHandler(net.ParseIP("127.0.0.1"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.URL.Path) }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") {
		t.Fatalf("url %s", s.URL)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CAPEM) {
		t.Fatal("bad CA PEM")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(s.URL + "/authorize")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "/authorize" {
		t.Errorf("body %q", b)
	}
}
