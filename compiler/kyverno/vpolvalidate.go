package kyverno

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	policieskyvernoio "github.com/kyverno/api/api/policies.kyverno.io"
	policiesv1beta1 "github.com/kyverno/api/api/policies.kyverno.io/v1beta1"
	celcompiler "github.com/kyverno/kyverno/pkg/cel/compiler"
	"github.com/kyverno/kyverno/pkg/cel/libs"
	vpolvalidation "github.com/kyverno/kyverno/pkg/cel/policies/vpol"
	"github.com/kyverno/sdk/extensions/cel/libs/globalcontext"
	"github.com/kyverno/sdk/extensions/cel/libs/gzip"
	"github.com/kyverno/sdk/extensions/cel/libs/hash"
	"github.com/kyverno/sdk/extensions/cel/libs/http"
	"github.com/kyverno/sdk/extensions/cel/libs/image"
	"github.com/kyverno/sdk/extensions/cel/libs/imagedata"
	"github.com/kyverno/sdk/extensions/cel/libs/json"
	"github.com/kyverno/sdk/extensions/cel/libs/math"
	"github.com/kyverno/sdk/extensions/cel/libs/random"
	"github.com/kyverno/sdk/extensions/cel/libs/resource"
	"github.com/kyverno/sdk/extensions/cel/libs/time"
	"github.com/kyverno/sdk/extensions/cel/libs/transform"
	"github.com/kyverno/sdk/extensions/cel/libs/user"
	"github.com/kyverno/sdk/extensions/cel/libs/x509"
	"github.com/kyverno/sdk/extensions/cel/libs/yaml"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/version"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/environment"
)

// validateValidatingPolicy returns what Kyverno's pkg/cel/policies/vpol.Validate returns for pol.
//
// vpol.Validate compiles the policy with a CEL environment that it builds from scratch on every call
// (all of Kyverno's CEL libraries on top of the Kubernetes base environment): about 4 ms of CPU,
// most of the cost of validating a generated guardrail. For the policies guardrail generates — cluster
// scoped, Kubernetes evaluation mode, no variables — that environment is the same every time and
// nothing the compilation does writes to it, so it is built once here (sharedVpolEnv) and the
// policy's expressions are compiled in it with Kyverno's own compile functions, in vpol.Validate's
// order and with its error list. Every other policy (namespaced, JSON mode, or with variables, whose
// types the compilation registers in the environment's variables provider) goes to vpol.Validate
// itself.
//
// The environment below is pkg/cel/policies/vpol/compiler.createBaseVpolEnv of Kyverno v1.19.1 for
// the namespace "". TestValidateValidatingPolicyMatchesKyverno checks that both give the same
// warnings and errors on valid and invalid policies, and that go.mod still pins v1.19.1 (re-check this
// file when Kyverno is upgraded).
func validateValidatingPolicy(pol *policiesv1beta1.ValidatingPolicy) ([]string, error) {
	spec := pol.GetValidatingPolicySpec()
	if spec == nil || pol.GetNamespace() != "" || spec.EvaluationMode() == policieskyvernoio.EvaluationModeJSON || len(spec.Variables) > 0 {
		return vpolvalidation.Validate(pol)
	}
	env, err := sharedVpolEnv()
	if err != nil {
		return vpolvalidation.Validate(pol)
	}
	errs := compileForKubernetes(env, spec)
	if spec.MatchConstraints == nil || len(spec.MatchConstraints.ResourceRules) == 0 {
		errs = append(errs, field.Required(field.NewPath("spec").Child("matchConstraints"), "a matchConstraints with at least one resource rule is required"))
	}
	if len(errs) == 0 {
		return []string{}, nil
	}
	agg := errs.ToAggregate()
	warnings := make([]string, 0, len(agg.Errors()))
	for _, e := range agg.Errors() {
		warnings = append(warnings, e.Error())
	}
	return warnings, agg
}

// compileForKubernetes is the error side of vpol/compiler.compileForKubernetes: the first section that
// fails ends the compilation, behind Kyverno's place-holder error.
func compileForKubernetes(env *cel.Env, spec *policiesv1beta1.ValidatingPolicySpec) field.ErrorList {
	path := field.NewPath("spec")
	failed := field.ErrorList{field.InternalError(nil, fmt.Errorf(vpolCompileError, "failed to compile policy"))}
	if _, errs := celcompiler.CompileMatchConditions(path.Child("matchConditions"), env, spec.MatchConditions...); errs != nil {
		return append(failed, errs...)
	}
	for i, rule := range spec.Validations {
		if _, errs := celcompiler.CompileValidation(path.Child("validations").Index(i), env, rule); errs != nil {
			return append(failed, errs...)
		}
	}
	if _, errs := celcompiler.CompileAuditAnnotations(path.Child("auditAnnotations"), env, spec.AuditAnnotations...); errs != nil {
		return append(failed, errs...)
	}
	return nil
}

var (
	vpolCompilerVersion = version.MajorMinor(1, 0)
	vpolCompileError    = "validating policy compiler " + vpolCompilerVersion.String() + " error: %s"

	sharedVpolEnv = sync.OnceValues(func() (*cel.Env, error) {
		set, _, err := baseVpolEnv(libs.GetLibsCtx(), "")
		if err != nil {
			return nil, err
		}
		return set.Env(environment.StoredExpressions)
	})
)

// baseVpolEnv is vpol/compiler.createBaseVpolEnv (Kyverno v1.19.1), unchanged.
func baseVpolEnv(libsctx libs.Context, namespace string) (*environment.EnvSet, *celcompiler.VariablesProvider, error) {
	baseOpts := celcompiler.DefaultEnvOptionsWithCompat()
	baseOpts = append(baseOpts,
		cel.Variable(celcompiler.NamespaceObjectKey, celcompiler.NamespaceType.CelType()),
		cel.Variable(celcompiler.ObjectKey, cel.DynType),
		cel.Variable(celcompiler.OldObjectKey, cel.DynType),
		cel.Variable(celcompiler.RequestKey, celcompiler.RequestType.CelType()),
		cel.Types(celcompiler.NamespaceType.CelType()),
		cel.Types(celcompiler.RequestType.CelType()),
		cel.Variable(celcompiler.VariablesKey, celcompiler.VariablesType),
	)

	base := environment.MustBaseEnvSet(vpolCompilerVersion)
	env, err := base.Env(environment.StoredExpressions)
	if err != nil {
		return nil, nil, err
	}

	variablesProvider := celcompiler.NewVariablesProvider(env.CELTypeProvider())
	declProvider := apiservercel.NewDeclTypeProvider(celcompiler.NamespaceType, celcompiler.RequestType)
	declOptions, err := declProvider.EnvOptions(variablesProvider)
	if err != nil {
		return nil, nil, err
	}
	baseOpts = append(baseOpts, declOptions...)

	libEnvOpts := []cel.EnvOption{
		ext.NativeTypes(reflect.TypeFor[libs.Exception](), ext.ParseStructTags(true)),
		cel.Variable(celcompiler.ExceptionsKey, types.NewObjectType("libs.Exception")),
		globalcontext.Lib(
			globalcontext.Context{ContextInterface: celcompiler.ConfineGlobalContext(libsctx, namespace)},
			globalcontext.Latest(),
		),
		resource.Lib(resource.Context{ContextInterface: libsctx}, namespace, resource.Latest()),
		image.Lib(image.Latest()),
		imagedata.Lib(imagedata.Context{ContextInterface: libsctx}, imagedata.Latest(), nil),
		user.Lib(user.Latest()),
		hash.Lib(hash.Latest()),
		math.Lib(math.Latest()),
		json.Lib(&json.JsonImpl{}, json.Latest()),
		yaml.Lib(&yaml.YamlImpl{}, yaml.Latest()),
		random.Lib(random.Latest()),
		x509.Lib(x509.Latest()),
		time.Lib(time.Latest()),
		transform.Lib(transform.Latest()),
		gzip.Lib(gzip.Latest()),
		http.Lib(
			http.Context{ContextInterface: libs.NewMockAwareHTTPContext(celcompiler.NewLazyCELHTTPContext(namespace), libsctx.GetHTTPMocks())},
			http.Latest(),
		),
	}

	extendedBase, err := base.Extend(
		environment.VersionedOptions{IntroducedVersion: vpolCompilerVersion, EnvOptions: baseOpts},
		environment.VersionedOptions{IntroducedVersion: vpolCompilerVersion, EnvOptions: libEnvOpts},
	)
	if err != nil {
		return nil, nil, err
	}
	return extendedBase, variablesProvider, nil
}
