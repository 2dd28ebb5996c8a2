package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"guardrail.dev/guardrail/compiler"
	"guardrail.dev/guardrail/compiler/model"
	"guardrail.dev/guardrail/simulator"
	"guardrail.dev/guardrail/simulator/backend"
	"guardrail.dev/guardrail/simulator/backend/offline"
	"guardrail.dev/guardrail/simulator/identity"
	"guardrail.dev/guardrail/simulator/podidentity"
)

// requireBinaries skips an integration test when the control plane is not built, unless
// GUARDRAIL_REQUIRE_LOCAL is set (CI sets it: there, a skip would hide a broken build).
func requireBinaries(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts kube-apiserver, kube-controller-manager, Kyverno and the EKS webhooks")
	}
	if err := CheckBinaries("", true); err != nil {
		var missing *MissingBinaryError
		if errors.As(err, &missing) && os.Getenv("GUARDRAIL_REQUIRE_LOCAL") == "" {
			t.Skipf("skipping: %v", err)
		}
		t.Fatal(err)
	}
}

// verdictLog wraps a backend and records, in order, the verdict of every request: what was
// decided and by which layer and policies. Two runs of the same features must record the same.
type verdictLog struct {
	backend.Backend
	mu  *sync.Mutex
	log *[]string
}

func (r verdictLog) Do(ctx context.Context, p identity.Principal, a backend.Action) (backend.Verdict, error) {
	v, err := r.Backend.Do(ctx, p, a)
	var denied []string
	for _, d := range v.DeniedBy() {
		denied = append(denied, d.Name)
	}
	sort.Strings(denied)
	r.mu.Lock()
	*r.log = append(*r.log, fmt.Sprintf("%s | %s as %s | allowed=%v layer=%q grant=%q denied-by=%v err=%v",
		r.Env().Name, a, p, v.Allowed, v.Layer, v.GrantLayer, denied, err))
	r.mu.Unlock()
	return v, err
}

func (r verdictLog) PodCredentials(ctx context.Context, ns, sa string) (podidentity.Credentials, bool, error) {
	c, ok, err := r.Backend.PodCredentials(ctx, ns, sa)
	r.mu.Lock()
	*r.log = append(*r.log, fmt.Sprintf("%s | pod %s/%s | ok=%v role=%s target=%s err=%v", r.Env().Name, ns, sa, ok, c.RoleARN, c.TargetRoleARN, err))
	r.mu.Unlock()
	return c, ok, err
}

// TestIntegrationFeaturesAgree runs every scenario of features/ offline and on the local
// backend and fails on any difference in verdict: allowed or denied, the layer that decided,
// the grant's layer, and the denying policies.
func TestIntegrationFeaturesAgree(t *testing.T) {
	requireBinaries(t)
	out, err := compiler.CompileRepository("../../..", compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	environment := func(name string) (*model.Env, []byte, error) {
		env, rendered, ok := out.Environment(name)
		if !ok {
			return nil, nil, fmt.Errorf("no environment %s", name)
		}
		return env, rendered, nil
	}
	run := func(name string, make func(ctx context.Context, env string) (backend.Backend, error)) ([]string, string, int, string) {
		var mu sync.Mutex
		var log []string
		var report bytes.Buffer
		res, err := simulator.Run(context.Background(), simulator.Options{
			Features: []string{"../../../features"}, Compiled: out, Out: &report,
			Backend: func(ctx context.Context, env string) (backend.Backend, error) {
				be, err := make(ctx, env)
				if err != nil {
					return nil, err
				}
				return verdictLog{Backend: be, mu: &mu, log: &log}, nil
			},
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return log, res.Summary.String(), res.Summary.ScenariosFailed, report.String()
	}
	offLog, offSum, offFailed, offReport := run("offline", func(_ context.Context, env string) (backend.Backend, error) {
		e, rendered, err := environment(env)
		if err != nil {
			return nil, err
		}
		return offline.New(e, rendered, offline.Options{})
	})
	liveLog, liveSum, liveFailed, liveReport := run("local", func(ctx context.Context, env string) (backend.Backend, error) {
		e, rendered, err := environment(env)
		if err != nil {
			return nil, err
		}
		return NewBackend(ctx, e, rendered, BackendOptions{Logs: io.Discard})
	})
	t.Logf("offline: %s; local: %s; %d verdicts each", offSum, liveSum, len(offLog))
	if len(offLog) != len(liveLog) {
		t.Fatalf("offline recorded %d verdicts, local %d", len(offLog), len(liveLog))
	}
	if offFailed > 0 {
		t.Errorf("offline: %s\n%s", offSum, offReport)
	}
	var diffs []string
	for i := range offLog {
		if offLog[i] != liveLog[i] {
			diffs = append(diffs, "offline: "+offLog[i]+"\n  local: "+liveLog[i])
		}
	}
	if liveFailed > 0 {
		t.Errorf("local: %s\n%s", liveSum, liveReport)
	}
	if len(diffs) > 0 {
		t.Errorf("%d of %d verdicts differ (a difference is a bug in the offline model):\n%s", len(diffs), len(offLog), strings.Join(diffs, "\n"))
	}
}
