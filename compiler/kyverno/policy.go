package kyverno

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	policiesv1beta1 "github.com/kyverno/api/api/policies.kyverno.io/v1beta1"
	kyvernov1 "github.com/kyverno/kyverno/api/kyverno/v1"
	"github.com/kyverno/kyverno/pkg/autogen"
	vpolcompiler "github.com/kyverno/kyverno/pkg/cel/policies/vpol/compiler"
	vpolengine "github.com/kyverno/kyverno/pkg/cel/policies/vpol/engine"
	"github.com/kyverno/kyverno/pkg/config"
	policyvalidation "github.com/kyverno/kyverno/pkg/validation/policy"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Kinds of policy documents ParsePolicy accepts.
const (
	KindClusterPolicy    = "ClusterPolicy"
	KindValidatingPolicy = "ValidatingPolicy"
)

// Policy is one parsed and validated Kyverno policy document: a ClusterPolicy (kyverno.io/v1) or a
// ValidatingPolicy (policies.kyverno.io/v1; v1beta1 has the same schema and is accepted too).
// A Policy is immutable once parsed and may be shared by several Engines.
type Policy struct {
	Kind string // KindClusterPolicy or KindValidatingPolicy
	Name string
	// Warnings are the non-fatal messages Kyverno's validation returned (deprecations and the like),
	// verbatim.
	Warnings []string

	cpol  *kyvernov1.ClusterPolicy
	rules []cpolRule // ClusterPolicy: match blocks of every rule, autogen rules included, for the prefilter

	vpol *policiesv1beta1.ValidatingPolicy
	// compiled is the ValidatingPolicy compiled for the engine, with its autogen variants; it is
	// built on first use by NewEngine, so that validating policies (guardrail compile) does not
	// pay for a second CEL compilation.
	compileOnce sync.Once
	compiled    []vpolEntry
	compileErr  error
}

// vpolEntry is one compiled ValidatingPolicy as the vpol engine sees it, with its static prefilter.
type vpolEntry struct {
	policy vpolengine.Policy
	pre    []staticCond // conjuncts of matchConditions that can be decided without CEL
}

// ParsePolicy strictly decodes one YAML (or JSON) document, unknown and duplicate fields being errors,
// and runs Kyverno's own validation on it:
//
//   - ClusterPolicy: pkg/validation/policy.Validate, as `kyverno apply/test` call it (mock mode, no
//     cluster), with the Kyverno service-account username "system:serviceaccount:kyverno:kyverno" as
//     both the background and the reports service account.
//   - ValidatingPolicy: pkg/cel/policies/vpol.Validate, which is what the admission webhook runs on a
//     new ValidatingPolicy (the vpol compiler: CEL syntax and type errors, missing matchConstraints),
//     then the same compilation the engine does (autogen variants included).
//
// Errors start with "<Kind>/<name>: " and carry Kyverno's message verbatim after it.
func ParsePolicy(doc []byte) (*Policy, error) {
	quiet()
	doc = bytes.TrimSpace(doc)
	doc = bytes.TrimPrefix(doc, []byte("---"))
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil, errors.New("empty policy document")
	}
	if documentSeparator.Match(doc) {
		return nil, errors.New("more than one YAML document: ParsePolicy takes one policy")
	}
	var tm struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, fmt.Errorf("policy document is not valid YAML: %w", err)
	}
	id := tm.Kind + "/" + tm.Metadata.Name
	group := tm.APIVersion
	if i := strings.Index(group, "/"); i >= 0 {
		group = group[:i]
	}
	switch {
	case tm.Kind == KindClusterPolicy && tm.APIVersion == "kyverno.io/v1":
		var pol kyvernov1.ClusterPolicy
		if err := decodeStrict(doc, &pol); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		return newClusterPolicy(&pol)
	case tm.Kind == KindValidatingPolicy && (tm.APIVersion == "policies.kyverno.io/v1" || tm.APIVersion == "policies.kyverno.io/v1beta1"):
		var pol policiesv1beta1.ValidatingPolicy
		if err := decodeStrict(doc, &pol); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		return newValidatingPolicy(&pol)
	case group == "kyverno.io" || group == "policies.kyverno.io":
		return nil, fmt.Errorf("%s: unsupported policy kind %s %s (want kyverno.io/v1 ClusterPolicy or policies.kyverno.io/v1 ValidatingPolicy)", id, tm.APIVersion, tm.Kind)
	default:
		return nil, fmt.Errorf("%s: not a Kyverno policy (apiVersion %q, kind %q)", id, tm.APIVersion, tm.Kind)
	}
}

var documentSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// decodeStrict decodes YAML the way the API server decodes a strict request: case-sensitive field
// names, duplicate and unknown fields are errors (reported with their path, e.g. "spec.foo").
func decodeStrict(doc []byte, into any) error {
	raw, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(raw, into)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// backgroundServiceAccount is what the CLI passes to policy validation.
func backgroundServiceAccount() string {
	return config.KyvernoUserName(config.KyvernoServiceAccountName())
}

func newClusterPolicy(pol *kyvernov1.ClusterPolicy) (p *Policy, err error) {
	id := KindClusterPolicy + "/" + pol.GetName()
	if pol.GetName() == "" {
		return nil, fmt.Errorf("%s: metadata.name is required", id)
	}
	if pol.GetSpec().CustomWebhookMatchConditions() {
		// policy.Validate asks the API server for its version when webhookConfiguration.matchConditions is
		// set; there is no API server here.
		return nil, fmt.Errorf("%s: spec.webhookConfiguration.matchConditions is not supported by the offline engine", id)
	}
	defer func() {
		// Kyverno's validation is written for policies that went through the CRD schema first; do not let a
		// nil-pointer in it take the caller down.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%s: kyverno policy validation panicked: %v", id, r)
		}
	}()
	sa := backgroundServiceAccount()
	warnings, err := policyvalidation.Validate(pol, nil, nil, true, sa, sa)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	p = &Policy{Kind: KindClusterPolicy, Name: pol.GetName(), Warnings: warnings, cpol: pol}
	for _, rule := range autogen.Default.ComputeRules(pol, "") {
		p.rules = append(p.rules, newCpolRule(rule))
	}
	return p, nil
}

func newValidatingPolicy(pol *policiesv1beta1.ValidatingPolicy) (*Policy, error) {
	id := KindValidatingPolicy + "/" + pol.GetName()
	if pol.GetName() == "" {
		return nil, fmt.Errorf("%s: metadata.name is required", id)
	}
	// The engine and the reports look the kind up on the object.
	pol.Kind = KindValidatingPolicy
	warnings, err := validateValidatingPolicy(pol)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	p := &Policy{Kind: KindValidatingPolicy, Name: pol.GetName(), Warnings: warnings, vpol: pol}
	return p, nil
}

// compile compiles a ValidatingPolicy for the engine, once.
func (p *Policy) compile() ([]vpolEntry, error) {
	p.compileOnce.Do(func() {
		id := KindValidatingPolicy + "/" + p.Name
		provider, err := vpolengine.NewProvider(vpolcompiler.NewCompiler(), []policiesv1beta1.ValidatingPolicyLike{p.vpol}, nil)
		if err != nil {
			p.compileErr = fmt.Errorf("%s: %w", id, err)
			return
		}
		compiled, err := provider.Fetch(context.Background())
		if err != nil {
			p.compileErr = fmt.Errorf("%s: %w", id, err)
			return
		}
		for _, c := range compiled {
			p.compiled = append(p.compiled, vpolEntry{
				policy: c,
				pre:    staticConditions(c.Policy.GetValidatingPolicySpec().MatchConditions),
			})
		}
	})
	return p.compiled, p.compileErr
}

// String returns "<Kind>/<name>".
func (p *Policy) String() string { return p.Kind + "/" + p.Name }
