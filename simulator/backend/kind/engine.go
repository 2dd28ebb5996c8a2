package kind

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"guardrail.dev/guardrail/simulator/webhook"
)

// ErrNoEngine is the error Available wraps when no container engine answers. The CLI maps
// errors.Is(err, ErrUnavailable) (which this matches) to its "backend unavailable" exit code.
var ErrNoEngine = errors.New("no container engine: install Docker or Podman and start it; kind needs one to run nodes")

// ErrUnavailable is wrapped by every error that says the kind backend cannot run on this
// machine (no container engine, no node image), as opposed to a failure while running.
var ErrUnavailable = errors.New("kind backend unavailable")

// unavailable wraps err so that errors.Is matches both err's sentinel and ErrUnavailable.
type unavailable struct{ err error }

func (u unavailable) Error() string   { return u.err.Error() }
func (u unavailable) Unwrap() []error { return []error{u.err, ErrUnavailable} }
func markUnavailable(err error) error { return unavailable{err} }
func engineError(detail string) error {
	return markUnavailable(fmt.Errorf("%w (%s)", ErrNoEngine, detail))
}
func nodeImageError(format string, a ...any) error { return markUnavailable(fmt.Errorf(format, a...)) }

// probeTimeout bounds each engine probe, so Available answers within seconds.
const probeTimeout = 3 * time.Second

// engines are the container engines kind runs nodes with, in the order kind's
// DetectNodeProvider tries them (nerdctl is left out: the backend supports Docker and Podman).
var engines = []string{"docker", "podman"}

// Available reports whether a container engine answers. kind's own detection
// (cluster.DetectNodeProvider) only runs `docker -v`, which succeeds with a client and no
// daemon; this runs `ENGINE info` with a short timeout instead, so a stopped daemon fails
// here in seconds and not in the middle of cluster creation.
func Available(ctx context.Context) error {
	_, err := detect(ctx)
	return err
}

// detect returns the first engine that answers `info`. KIND_EXPERIMENTAL_PROVIDER, as kind's
// CLI honours it, restricts the choice to that engine.
func detect(ctx context.Context) (string, error) {
	candidates := engines
	if p := os.Getenv("KIND_EXPERIMENTAL_PROVIDER"); p != "" {
		candidates = []string{p}
	}
	var details []string
	for _, e := range candidates {
		path, err := exec.LookPath(e)
		if err != nil {
			details = append(details, e+": not installed")
			continue
		}
		// Both print to standard error why the daemon (or Podman's service) does not answer.
		format := "{{.ServerVersion}}" // docker
		if e == "podman" {
			format = "{{.Host.Arch}}"
		}
		out, err := runStderr(ctx, probeTimeout, path, "info", "--format", format)
		if err == nil {
			return e, nil
		}
		details = append(details, fmt.Sprintf("%s: installed at %s but `%s info` failed: %s", e, path, e, oneLine(out, err)))
	}
	return "", engineError(strings.Join(details, "; "))
}

// run runs a command with a timeout and returns its combined output.
func run(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("no answer within %s", timeout)
	}
	return out.String(), err
}

// runStderr is run for a command whose standard output is of no interest: it returns the
// standard error, which says why it failed.
func runStderr(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("no answer within %s", timeout)
	}
	return stderr.String(), err
}

func oneLine(out string, err error) string {
	out = strings.TrimSpace(out)
	if i := strings.IndexByte(out, '\n'); i >= 0 {
		out = out[:i]
	}
	if out == "" {
		return err.Error()
	}
	return out
}

// BridgeGateway is the host's address on the engine's default bridge network ("bridge" for
// Docker, "podman" for Podman), the address from which a kind node reaches a server on the
// host; see Options.
func BridgeGateway(ctx context.Context, engine string) (net.IP, error) {
	network, format := "bridge", "{{range .IPAM.Config}}{{.Gateway}} {{end}}"
	if engine == "podman" {
		network, format = "podman", "{{range .Subnets}}{{.Gateway}} {{end}}"
	}
	out, err := run(ctx, 10*time.Second, engine, "network", "inspect", network, "--format", format)
	if err != nil {
		return nil, fmt.Errorf("kind: %s network inspect %s: %s", engine, network, oneLine(out, err))
	}
	for _, f := range strings.Fields(out) {
		if ip := net.ParseIP(f); ip != nil && ip.To4() != nil {
			return ip, nil
		}
	}
	return nil, fmt.Errorf("kind: %s network %s has no IPv4 gateway (%q)", engine, network, strings.TrimSpace(out))
}

// WriteWebhookKubeconfigs writes AuthnKubeconfig and AuthzKubeconfig into opts.WebhookDir:
// the API server's clients for the token and authorization webhooks at opts.WebhookURL.
func WriteWebhookKubeconfigs(opts Options) error {
	if err := checkWebhookURL(opts.WebhookURL); err != nil {
		return err
	}
	base := strings.TrimSuffix(opts.WebhookURL, "/")
	for file, path := range map[string]string{AuthnKubeconfig: webhook.PathAuthenticate, AuthzKubeconfig: webhook.PathAuthorize} {
		if err := os.WriteFile(filepath.Join(opts.WebhookDir, file), webhookKubeconfig(base+path, opts.WebhookCAPEM), 0o644); err != nil {
			return err
		}
	}
	return nil
}
