package kind

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http"

	"guardrail.dev/guardrail/simulator/webhook"
)

// webhookKubeconfig is a kubeconfig whose cluster is server, verified with ca.
func webhookKubeconfig(server string, ca []byte) []byte {
	caLine := ""
	if len(ca) > 0 {
		caLine = "\n    certificate-authority-data: " + base64.StdEncoding.EncodeToString(ca)
	}
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: guardrail
  cluster:
    server: %s%s
users:
- name: apiserver
contexts:
- name: webhook
  context: {cluster: guardrail, user: apiserver}
current-context: webhook
`, server, caLine)
}

// serve listens on ip (the bridge gateway) with a fresh self-signed certificate for it.
func serve(ip net.IP, h http.Handler) (*webhook.Serving, error) {
	srv, err := webhook.ServeHandler(ip, h)
	if err != nil {
		return nil, fmt.Errorf("kind: listen for webhooks on the bridge gateway %s: %w", ip, err)
	}
	return srv, nil
}
