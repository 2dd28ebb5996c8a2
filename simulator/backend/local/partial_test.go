package local

import "testing"

func TestPartialAgreement(t *testing.T) {
	k := "dev | create namespaces testnamespace as elon.musk@example.com via permission set Cell_Infra_Admin"
	off := k + ` | allowed=false layer="admission" grant="system:masters" denied-by=[block-cluster-admin-from-ns guardrail-elon-cannot-touch-testnamespace] err=<nil>`
	for live, want := range map[string]bool{
		k + ` | allowed=false layer="admission" grant="system:masters" denied-by=[guardrail-elon-cannot-touch-testnamespace] err=<nil>`: true,
		k + ` | allowed=false layer="admission" grant="system:masters" denied-by=[block-cluster-admin-from-ns] err=<nil>`:               true,
		k + ` | allowed=false layer="admission" grant="system:masters" denied-by=[] err=<nil>`:                                          false,
		k + ` | allowed=true layer="" grant="system:masters" denied-by=[] err=<nil>`:                                                    false,
		k + ` | allowed=false layer="admission" grant="system:masters" denied-by=[other] err=<nil>`:                                     false,
	} {
		if _, got := partialAgreement(off, live); got != want {
			t.Errorf("%s: got %v", live, got)
		}
	}
	if _, got := partialAgreement("dev | other", "dev | other2"); got {
		t.Error("unknown key accepted")
	}
}
