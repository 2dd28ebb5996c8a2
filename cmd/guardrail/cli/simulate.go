package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"guardrail.dev/guardrail/compiler"
	"guardrail.dev/guardrail/compiler/emit"
	"guardrail.dev/guardrail/compiler/load"
	"guardrail.dev/guardrail/simulator"
	"guardrail.dev/guardrail/simulator/backend"
	"guardrail.dev/guardrail/simulator/backend/kind"
	"guardrail.dev/guardrail/simulator/backend/kubeconfig"
	"guardrail.dev/guardrail/simulator/backend/local"
)

// sourceOptions are the flags that say what to compile: shared by simulate, whoami and can-i.
type sourceOptions struct {
	environments []string
	policies     string
	policyKind   string
	cmd          *cobra.Command
}

func (o *sourceOptions) addFlags(cmd *cobra.Command) {
	o.cmd = cmd
	f := cmd.Flags()
	f.StringSliceVar(&o.environments, "environments", []string{"environments"}, "environment files or directories to compile")
	f.StringVar(&o.policies, "policies", "policies", "directory of hand-written Kyverno policies included in every overlay")
	f.StringVar(&o.policyKind, "policy-kind", emit.ValidatingPolicy, "kind of the generated policies: ValidatingPolicy or ClusterPolicy")
}

// compile compiles the sources in memory, as guardrail compile would write them.
func (o *sourceOptions) compile(s Streams) (*compiler.Output, error) {
	if o.policyKind != emit.ValidatingPolicy && o.policyKind != emit.ClusterPolicy {
		return nil, usageErrorf("--policy-kind must be %s or %s, not %q", emit.ValidatingPolicy, emit.ClusterPolicy, o.policyKind)
	}
	sources, err := load.ReadPaths(o.environments)
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	library, err := readLibrary(o.policies, o.cmd != nil && o.cmd.Flags().Changed("policies"))
	if err != nil {
		return nil, err
	}
	out, err := compiler.Compile(sources, library, compiler.Options{PolicyKind: o.policyKind})
	if err != nil {
		var invalid *load.InvalidError
		if errors.As(err, &invalid) {
			printDiagnostics(s, invalid.Diagnostics, false)
			return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("the environments are invalid (%s)", count(len(invalid.Diagnostics), "problem"))}
		}
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	return out, nil
}

type simulateOptions struct {
	sourceOptions
	env             string
	backend         string
	format          string
	out             string
	tags            string
	seed            int64
	parallel        int
	kindNodeImage   string
	keep            bool
	quiet           bool
	kyvernoManifest string
	kyvernoRegistry string
	kubeconfig      string
	kubeContext     string
	noColor         bool
}

// NewSimulateCommand returns guardrail simulate.
func NewSimulateCommand(s Streams) *cobra.Command {
	o := &simulateOptions{}
	cmd := &cobra.Command{
		Use:   "simulate [feature paths...]",
		Short: "Run Gherkin access scenarios against the compiled environments",
		Long: `Run Gherkin scenarios (default features/) against the environments, compiled in memory exactly
as guardrail compile writes them. Each step is checked against the step vocabulary before anything
runs: an undefined or ambiguous step is an error that names file:line and suggests the nearest
known steps (guardrail steps lists them; docs/steps.md documents them).

With --backend local the same scenarios run against a real kube-apiserver (with etcd and
kube-controller-manager) and the real Kyverno admission controller, started on loopback ports
and stopped when the run ends; EKS authentication, access policies and Pod Identity are served to
the API server as webhooks. It needs the binaries of make local-tools (bin/) and takes about 20 s
to start per environment.

With --backend kubeconfig the scenarios run read-only against any cluster of a kubeconfig: the
identities are impersonated and every write is a server-side dry run. On EKS, impersonation drops
access-policy grants, so a request only an access policy would allow is reported as not
verifiable there; updates and deletes need the object to exist.

The offline backend (default) runs in process: EKS authentication and access policies modelled,
Kubernetes RBAC with the upstream authorizer and bootstrap policy, and the real Kyverno engine for
admission. Every verdict is explained: the identity chain, the grant, the denying policy.

Reports: pretty (default; colour only on a terminal), junit and cucumber (Cucumber JSON), to
standard output or --out FILE (written atomically).

Exit codes: 0 all scenarios passed, 1 a scenario failed, 2 usage or input error (bad feature file,
bad environment), 3 backend unavailable.`,
		Example: `  guardrail simulate
  guardrail simulate features/testnamespace.feature --env dev
  guardrail simulate --format junit --out report.xml --tags @guardrail`,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), s, args) },
	}
	o.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.env, "env", "", "environment of scenarios that do not name one (default: the only environment)")
	f.StringVar(&o.backend, "backend", "offline", "where scenarios run: offline, local (a real kube-apiserver and Kyverno on loopback; needs make local-tools), kind (a kind cluster with Kyverno from its pinned release; needs Docker or Podman), or kubeconfig (any cluster, read-only: impersonation and server-side dry runs)")
	f.StringVar(&o.format, "format", simulator.FormatPretty, "report format: pretty, junit or cucumber")
	f.StringVar(&o.out, "out", "", "write the report to this file instead of standard output")
	f.StringVar(&o.tags, "tags", "", `run only scenarios matching this tag expression, for example "@guardrail && ~@slow"`)
	f.Int64Var(&o.seed, "random-seed", 0, "run scenarios in an order shuffled with this seed (0: file order)")
	f.BoolVar(&o.noColor, "no-color", false, "never colour the pretty report (also when NO_COLOR is set)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "pretty report: only the failed scenarios and the summary")
	f.IntVar(&o.parallel, "concurrency", 1, "run this many scenarios at once; reports keep file order")
	f.StringVar(&o.kindNodeImage, "kind-node-image", "", "with --backend kind: the node image (default: kind's)")
	f.BoolVar(&o.keep, "keep", false, "with --backend kind: keep the cluster after the run")
	f.StringVar(&o.kyvernoManifest, "kyverno-manifest", "", "with --backend kind: the Kyverno install manifest, a URL, file:// URL or path (default: the pinned release's install.yaml on GitHub)")
	f.StringVar(&o.kyvernoRegistry, "kyverno-image-registry", "", "with --backend kind: pull Kyverno's images from this registry instead of reg.kyverno.io (air-gapped mirrors)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "with --backend kubeconfig: the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&o.kubeContext, "context", "", "with --backend kubeconfig: the context (default: the current one)")
	return cmd
}

func (o *simulateOptions) run(ctx context.Context, s Streams, paths []string) error {
	switch o.format {
	case simulator.FormatPretty, simulator.FormatJUnit, simulator.FormatCucumber:
	default:
		return usageErrorf("--format must be pretty, junit or cucumber, not %q", o.format)
	}
	if o.out != "" {
		if st, err := os.Stat(o.out); err == nil && st.IsDir() {
			return usageErrorf("--out %s is a directory: name the report file", o.out)
		}
		if st, err := os.Stat(filepath.Dir(o.out)); err != nil || !st.IsDir() {
			return usageErrorf("--out %s: the directory %s does not exist", o.out, filepath.Dir(o.out))
		}
	}
	if o.quiet && o.format != simulator.FormatPretty {
		return usageErrorf("-q shapes the pretty report; --format %s reports every scenario", o.format)
	}
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && filepath.Ext(p) != ".feature" {
			return usageErrorf("%s is not a .feature file: name feature files or directories of them", p)
		}
	}
	if err := simulator.CheckTags(o.tags); err != nil {
		return usageErrorf("%v", err)
	}
	if o.parallel < 1 {
		return usageErrorf("--concurrency must be 1 or more, not %d", o.parallel)
	}
	if o.seed < 0 {
		return usageErrorf("--random-seed must be a positive seed (0 keeps file order), not %d", o.seed)
	}
	for _, f := range []struct {
		name, backend string
		set           bool
	}{
		{"kind-node-image", "kind", o.kindNodeImage != ""},
		{"keep", "kind", o.keep},
		{"kyverno-manifest", "kind", o.kyvernoManifest != ""},
		{"kyverno-image-registry", "kind", o.kyvernoRegistry != ""},
		{"kubeconfig", "kubeconfig", o.kubeconfig != ""},
		{"context", "kubeconfig", o.kubeContext != ""},
	} {
		if f.set && o.backend != f.backend {
			return usageErrorf("--%s is for --backend %s, not %s", f.name, f.backend, o.backend)
		}
	}
	if m := o.kyvernoManifest; m != "" && !strings.HasPrefix(m, "http://") && !strings.HasPrefix(m, "https://") {
		if _, err := os.Stat(strings.TrimPrefix(m, "file://")); err != nil {
			return usageErrorf("--kyverno-manifest: %v", err)
		}
	}
	if o.kubeconfig != "" {
		if _, err := os.Stat(o.kubeconfig); err != nil {
			return usageErrorf("--kubeconfig: %v", err)
		}
	}
	switch o.backend {
	case "offline":
	case "local":
		if err := local.CheckBinaries("", true); err != nil {
			var missing *local.MissingBinaryError
			if !errors.As(err, &missing) {
				err = fmt.Errorf("--backend local runs the binaries that `%s` builds into bin/ of the repository; run guardrail from the repository: %w", local.BuildCommand, err)
			}
			return &ExitError{Code: ExitUnavailable, Err: err}
		}
	case "kind":
		if err := kind.Available(context.Background()); err != nil {
			return &ExitError{Code: ExitUnavailable, Err: err}
		}
	case "kubeconfig":
	default:
		return usageErrorf("--backend must be offline, local, kind or kubeconfig, not %q", o.backend)
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return usageErrorf("%v", err)
		}
	}
	compiled, err := o.compile(s)
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()

	out := s.Out
	var file *os.File
	if o.out != "" {
		file, err = os.CreateTemp(filepath.Dir(o.out), ".guardrail-report-")
		if err != nil {
			return usageErrorf("cannot write the report %s: %v", o.out, err)
		}
		if err := file.Chmod(0o644); err != nil {
			return usageErrorf("cannot write the report %s: %v", o.out, err)
		}
		defer os.Remove(file.Name())
		out = file
	}
	var factory func(ctx context.Context, env string) (backend.Backend, error)
	if o.backend != "offline" {
		factory = func(ctx context.Context, env string) (backend.Backend, error) {
			e, rendered, ok := compiled.Environment(env)
			if !ok {
				return nil, fmt.Errorf("unknown environment %q", env)
			}
			switch o.backend {
			case "kind":
				return kind.NewWith(ctx, e, rendered, kind.Options{
					Name: "guardrail-" + env, NodeImage: o.kindNodeImage, Keep: o.keep,
					KyvernoManifestURL: o.kyvernoManifest, KyvernoImageRegistry: o.kyvernoRegistry,
				}, kind.Extra{Logs: s.ErrOut})
			case "kubeconfig":
				return kubeconfig.New(ctx, e, rendered, kubeconfig.Options{Kubeconfig: o.kubeconfig, Context: o.kubeContext})
			}
			return local.NewBackend(ctx, e, rendered, local.BackendOptions{})
		}
	}
	res, err := simulator.Run(ctx, simulator.Options{
		Features: paths, Compiled: compiled, DefaultEnv: o.env, Format: o.format, Out: out,
		Color: o.out == "" && !o.noColor && os.Getenv("NO_COLOR") == "" && isTerminal(s.Out), Tags: o.tags, Randomize: o.seed,
		Concurrency: o.parallel, Backend: factory, FailuresOnly: o.quiet,
	})
	if file != nil {
		if cerr := file.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err == nil {
			if rerr := os.Rename(file.Name(), o.out); rerr != nil {
				err = fmt.Errorf("cannot write the report %s: %w", o.out, rerr)
			}
		}
	}
	var input *simulator.InputError
	var unavailable *simulator.BackendError
	switch {
	case errors.As(err, &input):
		for _, p := range input.Problems {
			fmt.Fprintln(s.ErrOut, p)
		}
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("the features cannot run (%s)", count(len(input.Problems), "problem"))}
	case errors.As(err, &unavailable):
		return &ExitError{Code: ExitUnavailable, Err: err}
	case err != nil:
		return &ExitError{Code: ExitFailed, Err: err}
	}
	if o.out != "" {
		fmt.Fprintf(s.ErrOut, "%s; report written to %s\n", res.Summary, o.out)
	}
	if res.Summary.ScenariosFailed > 0 {
		return &ExitError{Code: ExitFailed}
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
