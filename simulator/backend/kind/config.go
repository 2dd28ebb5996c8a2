// Package kind is the "kind" backend: a throwaway cluster made with sigs.k8s.io/kind (Docker
// or Podman), its API server wired to the EKS webhooks of package webhook through the
// kind/kubeadm configuration, with Kyverno installed from a pinned release.
package kind

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

const (
	// DefaultName is the cluster name when Options.Name is "".
	DefaultName = "guardrail"
	// KyvernoVersion is the pinned Kyverno release, the one the offline engine embeds.
	KyvernoVersion = "v1.19.1"
	// DefaultKyvernoManifestURL is the install manifest of the pinned release.
	DefaultKyvernoManifestURL = "https://github.com/kyverno/kyverno/releases/download/" + KyvernoVersion + "/install.yaml"

	// NodeWebhookDir is where the webhook kubeconfigs appear inside the node container and,
	// at the same path, inside the kube-apiserver static pod.
	NodeWebhookDir = "/etc/guardrail/webhooks"
	// AuthnKubeconfig and AuthzKubeconfig are the file names, in Options.WebhookDir, of the
	// kubeconfigs the API server uses to reach the token and authorization webhooks.
	AuthnKubeconfig = "authn-webhook.kubeconfig"
	AuthzKubeconfig = "authz-webhook.kubeconfig"
	// webhookVolume is the name of the API server's extra volume.
	webhookVolume = "guardrail-webhooks"
)

// Options configures the kind backend.
//
// The webhooks run in this process, on the host; the API server runs inside the kind node
// container, where 127.0.0.1 is the node itself. WebhookURL must therefore name an address
// of the host that containers reach: the gateway of the container engine's bridge network,
// as `docker network inspect bridge -f '{{(index .IPAM.Config 0).Gateway}}'` prints it
// (usually 172.17.0.1; the gateway of the "kind" network, usually 172.18.0.1, works too).
// BridgeGateway finds it. The webhook server must listen on that address and present a
// certificate valid for it.
type Options struct {
	// Name is the kind cluster name; "" for DefaultName.
	Name string
	// NodeImage is the kindest/node image; "" for kind's default (defaults.Image).
	NodeImage string
	// Keep leaves the cluster running after Close (or after a failed start).
	Keep bool
	// KyvernoManifestURL is where the Kyverno install manifest is read: http(s)://, file://
	// or a plain path (air-gapped users); "" for DefaultKyvernoManifestURL.
	KyvernoManifestURL string
	// KyvernoImageRegistry, when set, replaces the registry host of every Kyverno image of
	// the manifest (reg.kyverno.io/kyverno/kyverno:v1.19.1 → REGISTRY/kyverno/kyverno:v1.19.1).
	KyvernoImageRegistry string
	// WebhookURL is the base URL of the EKS webhooks as the node reaches them, for example
	// https://172.17.0.1:8443 (see above); not loopback.
	WebhookURL string
	// WebhookCAPEM verifies the webhooks' serving certificate.
	WebhookCAPEM []byte
	// WebhookDir is the host directory holding AuthnKubeconfig and AuthzKubeconfig
	// (WriteWebhookKubeconfigs writes them); it is mounted read-only into the node.
	WebhookDir string
}

// clusterConfig, node, mount: the part of kind's v1alpha4 schema the backend uses, in its field
// order (sigs.k8s.io/kind/pkg/apis/config/v1alpha4).
type clusterConfig struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Name       string `json:"name,omitempty"`
	Nodes      []node `json:"nodes"`
}

type node struct {
	Role                 string   `json:"role"`
	Image                string   `json:"image,omitempty"`
	ExtraMounts          []mount  `json:"extraMounts,omitempty"`
	KubeadmConfigPatches []string `json:"kubeadmConfigPatches,omitempty"`
}

type mount struct {
	HostPath      string `json:"hostPath"`
	ContainerPath string `json:"containerPath"`
	ReadOnly      bool   `json:"readOnly,omitempty"`
}

// APIServerArgs are the kube-apiserver flags the kubeadm patch sets, as the local backend
// passes them: token authentication and authorization by webhook, no caching, so every
// request reaches the webhooks.
func APIServerArgs() map[string]string {
	return map[string]string{
		"authentication-token-webhook-config-file":     NodeWebhookDir + "/" + AuthnKubeconfig,
		"authentication-token-webhook-version":         "v1",
		"authentication-token-webhook-cache-ttl":       "0s",
		"authorization-mode":                           "Node,RBAC,Webhook",
		"authorization-webhook-config-file":            NodeWebhookDir + "/" + AuthzKubeconfig,
		"authorization-webhook-version":                "v1",
		"authorization-webhook-cache-authorized-ttl":   "0s",
		"authorization-webhook-cache-unauthorized-ttl": "0s",
	}
}

// Config renders the kind cluster configuration (kind.x-k8s.io/v1alpha4): one control-plane
// node that mounts opts.WebhookDir at NodeWebhookDir, and a kubeadm ClusterConfiguration
// patch that mounts it into the API server pod and sets APIServerArgs. The patch carries no
// apiVersion, so kind applies it to the kubeadm v1beta3 or v1beta4 configuration of the node
// image alike and merges extraArgs with its own.
func Config(opts Options) ([]byte, error) {
	if opts.WebhookDir == "" {
		return nil, errors.New("kind: Options.WebhookDir is required: the directory holding the webhook kubeconfigs")
	}
	if !filepath.IsAbs(opts.WebhookDir) {
		return nil, fmt.Errorf("kind: Options.WebhookDir %q must be an absolute path", opts.WebhookDir)
	}
	if err := checkWebhookURL(opts.WebhookURL); err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = DefaultName
	}
	patch := map[string]any{
		"kind": "ClusterConfiguration",
		"apiServer": map[string]any{
			"extraArgs": APIServerArgs(),
			"extraVolumes": []any{map[string]any{
				"name":      webhookVolume,
				"hostPath":  NodeWebhookDir,
				"mountPath": NodeWebhookDir,
				"readOnly":  true,
				"pathType":  "Directory",
			}},
		},
	}
	p, err := yaml.Marshal(patch)
	if err != nil {
		return nil, err
	}
	c := clusterConfig{
		Kind:       "Cluster",
		APIVersion: "kind.x-k8s.io/v1alpha4",
		Name:       name,
		Nodes: []node{{
			Role:                 "control-plane",
			Image:                opts.NodeImage,
			ExtraMounts:          []mount{{HostPath: opts.WebhookDir, ContainerPath: NodeWebhookDir, ReadOnly: true}},
			KubeadmConfigPatches: []string{string(p)},
		}},
	}
	return yaml.Marshal(c)
}

// checkWebhookURL rejects a webhook URL the node cannot reach.
func checkWebhookURL(raw string) error {
	if raw == "" {
		return errors.New("kind: Options.WebhookURL is required: the webhooks' base URL as the node reaches it, such as https://172.17.0.1:8443 (the container bridge gateway)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("kind: Options.WebhookURL: %w", err)
	}
	if u.Scheme != "https" || u.Hostname() == "" {
		return fmt.Errorf("kind: Options.WebhookURL %q must be https://HOST:PORT", raw)
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() || u.Hostname() == "localhost" {
		return fmt.Errorf("kind: Options.WebhookURL %q is loopback, which inside the kind node is the node itself: use the container bridge gateway (such as 172.17.0.1)", raw)
	}
	return nil
}
