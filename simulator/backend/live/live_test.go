package live

import (
	"strings"
	"testing"

	"guardrail.dev/guardrail/compiler/kyverno"
)

func TestParseDenial(t *testing.T) {
	msg := "admission webhook \"validate.kyverno.svc-fail\" denied the request: \n\nresource ConfigMap/testnamespace/settings was blocked due to the following policies \n\nblock-cluster-admin-from-ns:\n  block-cluster-admin-from-ns: 'cluster admins may not change anything in testnamespace'\n"
	got := ParseDenial(msg, []string{"block-cluster-admin-from-ns", "guardrail-elon-cannot-touch-testnamespace"})
	if len(got) != 1 || got[0].Name != "block-cluster-admin-from-ns" || got[0].Rule != "block-cluster-admin-from-ns" || !got[0].Denies ||
		got[0].Message != "cluster admins may not change anything in testnamespace" {
		t.Errorf("ParseDenial(ClusterPolicy) = %+v", got)
	}
	msg = `admission webhook "vpol.validate.kyverno.svc-fail" denied the request: Policy guardrail-elon-cannot-touch-testnamespace failed: elon may not change anything in testnamespace`
	got = ParseDenial(msg, []string{"guardrail-elon", "guardrail-elon-cannot-touch-testnamespace"})
	if len(got) != 1 || got[0].Name != "guardrail-elon-cannot-touch-testnamespace" {
		t.Errorf("ParseDenial(ValidatingPolicy) = %+v", got)
	}
}

func TestKyvernoConfigMap(t *testing.T) {
	data, err := KyvernoConfigMap(kyverno.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if data["resourceFilters"] != kyverno.DefaultResourceFilters || data["excludeGroups"] != "system:nodes" || !strings.Contains(data["webhooks"], "kube-system") {
		t.Errorf("KyvernoConfigMap(default) = %v", data)
	}
	if data, _ := KyvernoConfigMap(kyverno.Config{Bare: true}); len(data) != 0 {
		t.Errorf("KyvernoConfigMap(bare) = %v", data)
	}
}
