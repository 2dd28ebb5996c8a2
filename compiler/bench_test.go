package compiler_test

import (
	"fmt"
	"strings"
	"testing"

	"guardrail.dev/guardrail/compiler"
	"guardrail.dev/guardrail/compiler/load"
)

// LargeEnvironment generates the benchmark environment of the compiler issue: 200 teams,
// 2,000 people, 500 namespaces, 300 guardrails and 200 Pod Identity bindings, over 20
// permission sets (half aws-auth, half access entries with namespace-scoped policies).
func LargeEnvironment() []byte {
	var b strings.Builder
	b.WriteString(`apiVersion: guardrail.dev/v1alpha1
kind: Environment
metadata: {name: large}
spec:
  aws: {accountId: "123456789012", region: eu-west-1}
  cluster: {name: large, authenticationMode: API_AND_CONFIG_MAP}
  permissionSets:
`)
	for i := 0; i < 20; i++ {
		if i%2 == 0 {
			fmt.Fprintf(&b, "  - {name: PS%02d, roleSuffix: abcd%02d, awsAuth: {username: 'ps%02d-{{SessionName}}', groups: [group-%02d]}}\n", i, i, i, i)
		} else {
			fmt.Fprintf(&b, "  - name: PS%02d\n    roleSuffix: abcd%02d\n    accessEntry:\n      username: 'ps%02d:{{SessionName}}'\n      groups: [group-%02d]\n      accessPolicies: [{policy: AmazonEKSViewPolicy, scope: {type: namespace, namespaces: ['team-%03d-*']}}]\n", i, i, i, i, i)
		}
	}
	b.WriteString("  teams:\n")
	ns := 0
	for t := 0; t < 200; t++ {
		fmt.Fprintf(&b, "  - name: team-%03d\n    permissionSets: [PS%02d, PS%02d]\n    members: [", t, t%20, (t+7)%20)
		for m := 0; m < 10; m++ {
			if m > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "person-%04d@example.com", t*10+m)
		}
		b.WriteString("]\n    namespaces:\n")
		n := 2
		if t%2 == 1 {
			n = 3
		}
		for k := 0; k < n; k++ {
			fmt.Fprintf(&b, "    - {name: team-%03d-ns%d, role: edit}\n", t, k)
			ns++
		}
	}
	b.WriteString("  guardrails:\n")
	for g := 0; g < 300; g++ {
		fmt.Fprintf(&b, "  - name: guardrail-%03d\n    deny: {people: [person-%04d@example.com, person-%04d@example.com], teams: [team-%03d], operations: [CREATE, UPDATE, DELETE], namespaces: [team-%03d-ns0, team-%03d-ns1]}\n    message: 'guardrail %d'\n",
			g, (g*7)%2000, (g*13+1)%2000, (g+1)%200, g%200, (g+3)%200, g)
	}
	b.WriteString("  podIdentities:\n")
	for p := 0; p < 200; p++ {
		fmt.Fprintf(&b, "  - {namespace: team-%03d-ns0, serviceAccount: sa-%03d, roleArn: 'arn:aws:iam::123456789012:role/pod-%03d', tags: {Team: team-%03d}}\n", p, p, p, p)
	}
	_ = ns // 500 namespaces: 100 teams with 2, 100 with 3
	return []byte(b.String())
}

func TestLargeEnvironmentShape(t *testing.T) {
	loaded, ds := load.Load([]load.Source{{Path: "large.yaml", Data: LargeEnvironment()}})
	if len(ds.Errors(false)) > 0 {
		t.Fatal(ds.Errors(false))
	}
	e := loaded[0].Env
	if len(e.Teams) != 200 || len(e.People) != 2000 || len(e.Namespaces) != 500 || len(e.Guardrails) != 300 || len(e.PodIdentities) != 200 {
		t.Fatalf("teams %d people %d namespaces %d guardrails %d pod identities %d",
			len(e.Teams), len(e.People), len(e.Namespaces), len(e.Guardrails), len(e.PodIdentities))
	}
}

// BenchmarkCompileLarge compiles the large environment end to end: load, validate, emit,
// Kyverno validation of 300 policies and the krusty build. Target: under 2 s, 500 MB.
func BenchmarkCompileLarge(b *testing.B) {
	src := []load.Source{{Path: "large.yaml", Data: LargeEnvironment()}}
	lib := library(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := compiler.Compile(src, lib, compiler.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
