package kind

import (
	"encoding/base64"
	"fmt"
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
