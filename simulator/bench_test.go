package simulator_test

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"guardrail.dev/guardrail/compiler"
	"guardrail.dev/guardrail/compiler/fixtures"
	"guardrail.dev/guardrail/compiler/load"
	"guardrail.dev/guardrail/compiler/resources"
	"guardrail.dev/guardrail/simulator"
	"guardrail.dev/guardrail/simulator/backend"
	"guardrail.dev/guardrail/simulator/backend/offline"
	"guardrail.dev/guardrail/simulator/identity"
)

// BenchmarkVerdicts measures verdict throughput on the large environment (300 guardrail
// policies plus the library): 5,000 distinct requests (people × operations × namespaces), each
// through authentication, authorization and Kyverno admission. Target: ≥ 5,000 verdicts/s.
func BenchmarkVerdicts(b *testing.B) {
	out, err := compiler.Compile([]load.Source{{Path: "large.yaml", Data: fixtures.LargeEnvironment()}}, nil, compiler.Options{})
	if err != nil {
		b.Fatal(err)
	}
	env := out.Envs[0].Env
	be, err := offline.New(env, out.Files["large/"+compiler.RenderedFile], offline.Options{})
	if err != nil {
		b.Fatal(err)
	}
	cm, err := resources.Lookup("configmaps")
	if err != nil {
		b.Fatal(err)
	}
	type request struct {
		p identity.Principal
		a backend.Action
	}
	verbs := []string{"create", "update", "delete", "get", "list"}
	reqs := make([]request, 5000)
	for i := range reqs {
		team := env.Teams[i%len(env.Teams)]
		reqs[i] = request{
			p: identity.Principal{Kind: identity.SSO, SSOUser: team.Members[(i/200)%len(team.Members)], PermissionSet: team.PermissionSets[i%2]},
			a: backend.Action{Verb: verbs[i%len(verbs)], Resource: cm, Name: fmt.Sprintf("cm-%d", i), Namespace: team.Namespaces[(i/7)%len(team.Namespaces)].Name},
		}
	}
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		start := time.Now()
		n := 0
		for b.Loop() {
			r := reqs[n%len(reqs)]
			if _, err := be.Do(ctx, r.p, r.a); err != nil {
				b.Fatal(err)
			}
			n++
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "verdicts/s")
	})
	b.Run("parallel", func(b *testing.B) {
		var next atomic.Int64
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r := reqs[int(next.Add(1))%len(reqs)]
				if _, err := be.Do(ctx, r.p, r.a); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "verdicts/s")
	})
}

// BenchmarkSimulateRepository is guardrail simulate over the repository's features, start-up
// included (compile of environments/ and policies/, backends, godog). Target: under 1 s.
func BenchmarkSimulateRepository(b *testing.B) {
	for b.Loop() {
		out := compileRepo(b)
		res, err := simulator.Run(context.Background(), simulator.Options{Features: []string{"../features"}, Compiled: out, Out: io.Discard})
		if err != nil || res.Summary.ScenariosFailed > 0 {
			b.Fatal(err, res)
		}
	}
}
