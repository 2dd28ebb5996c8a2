package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"guardrail.dev/guardrail/compiler"
	"guardrail.dev/guardrail/compiler/emit"
	"guardrail.dev/guardrail/compiler/load"
)

type compileOptions struct {
	out         string
	policies    string
	policyKind  string
	policiesSet bool
	check       bool
	strict      bool
	quiet       bool
}

// NewCompileCommand returns guardrail compile.
func NewCompileCommand(s Streams) *cobra.Command {
	o := &compileOptions{}
	cmd := &cobra.Command{
		Use:   "compile [paths...]",
		Short: "Compile environments into EKS requests, aws-auth, kustomize overlays and Kyverno policies",
		Long: `Compile environment files (default environments/) and the policy library (policies/) into
the output directory (default deploy/):

  deploy/base/                      the policies/ library as a kustomize base
  deploy/<env>/kustomization.yaml   the overlay: namespaces, RBAC, service accounts, policies, ../base
  deploy/<env>/rendered.yaml        the overlay built with krusty: the objects a cluster receives
  deploy/<env>/policies/            one Kyverno policy per guardrail
  deploy/<env>/eks/*.json           CreateAccessEntry, AssociateAccessPolicy and
                                    CreatePodIdentityAssociation requests (aws-sdk-go-v2 input shapes)
  deploy/<env>/aws-auth.yaml        kube-system/aws-auth, when a permission set is mapped that way

Every policy passes Kyverno's own validation first. Output is byte-stable, and written
atomically: on any error nothing under the output directory changes. deploy/base and each
compiled deploy/<env> are replaced whole, so stale files disappear.

With --check nothing is written: the command exits 1 with a unified diff when the output
directory is not what the sources produce (for PR checks that require generated output to be
committed).

Exit codes: 0 compiled (or up to date), 1 invalid input or --check found a difference, 2 usage error.`,
		Example: `  guardrail compile
  guardrail compile environments/dev.yaml -o deploy/
  guardrail compile --check`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.policiesSet = cmd.Flags().Changed("policies")
			return o.run(s, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.out, "output", "o", "deploy", "output directory")
	f.StringVar(&o.policies, "policies", "policies", "directory of hand-written Kyverno policies included in every overlay")
	f.StringVar(&o.policyKind, "policy-kind", emit.ValidatingPolicy,
		"kind of the generated policies: ValidatingPolicy (policies.kyverno.io/v1) or ClusterPolicy (kyverno.io/v1, deprecated since Kyverno 1.17)")
	f.BoolVar(&o.check, "check", false, "write nothing; exit 1 with a diff when the output directory is out of date")
	f.BoolVar(&o.strict, "strict", false, "treat warnings as errors")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print only errors")
	return cmd
}

func (o *compileOptions) run(s Streams, paths []string) error {
	if o.out == "" {
		return usageErrorf("--output must name a directory")
	}
	if st, err := os.Stat(o.out); err == nil && !st.IsDir() {
		return usageErrorf("--output %s is not a directory: name a directory", o.out)
	}
	if o.policyKind != emit.ValidatingPolicy && o.policyKind != emit.ClusterPolicy {
		return usageErrorf("--policy-kind must be %s or %s, not %q", emit.ValidatingPolicy, emit.ClusterPolicy, o.policyKind)
	}
	sources, err := load.ReadPaths(paths)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	library, err := readLibrary(o.policies, o.policiesSet)
	if err != nil {
		return err
	}
	out, err := compiler.Compile(sources, library, compiler.Options{PolicyKind: o.policyKind, Strict: o.strict})
	if err != nil {
		return inputError(s, err)
	}
	if !o.quiet {
		printDiagnostics(s, out.Warnings, false)
	}
	// With the whole environments directory compiled, a compiled directory no environment
	// produces is the output of a removed environment.
	var orphans []string
	if wholeDirectories(paths) {
		if orphans, err = compiler.Orphans(o.out, out); err != nil {
			return &ExitError{Code: ExitFailed, Err: err}
		}
	}
	for _, d := range orphans {
		fmt.Fprintf(s.ErrOut, "warning: %s: no environment produces it any more; delete it so GitOps stops applying it\n", d)
	}
	if o.check {
		if _, err := os.Stat(o.out); errors.Is(err, fs.ErrNotExist) {
			return &ExitError{Code: ExitFailed, Err: fmt.Errorf("%s does not exist: run guardrail compile -o %s and commit the result", o.out, o.out)}
		}
		diff, err := compiler.Diff(o.out, out)
		var oe *compiler.OutputError
		if errors.As(err, &oe) {
			return &ExitError{Code: ExitUsage, Err: err}
		}
		if err != nil {
			return &ExitError{Code: ExitFailed, Err: err}
		}
		if diff != "" || len(orphans) > 0 {
			fmt.Fprint(s.Out, diff)
			var todo []string
			if diff != "" {
				todo = append(todo, "run guardrail compile")
			}
			if len(orphans) > 0 {
				todo = append(todo, "delete "+strings.Join(orphans, ", ")+" (no environment produces it)")
			}
			return &ExitError{Code: ExitFailed, Err: fmt.Errorf("%s is out of date: %s and commit the result", o.out, strings.Join(todo, ", "))}
		}
		if !o.quiet {
			fmt.Fprintf(s.ErrOut, "%s is up to date\n", o.out)
		}
		return nil
	}
	if err := compiler.Write(o.out, out); err != nil {
		var oe *compiler.OutputError
		if errors.As(err, &oe) {
			return &ExitError{Code: ExitUsage, Err: err}
		}
		return &ExitError{Code: ExitFailed, Err: err}
	}
	if !o.quiet {
		counts := map[string]int{}
		for p := range out.Files {
			if path.Base(p) != compiler.ListingFile {
				counts[strings.SplitN(p, "/", 2)[0]]++
			}
		}
		for _, d := range out.Dirs {
			fmt.Fprintf(s.ErrOut, "wrote %s/%s (%s)\n", strings.TrimSuffix(o.out, "/"), d, count(counts[d], "file"))
		}
	}
	return nil
}

// readLibrary reads the policy library. A missing default policies/ is an empty library; a
// directory named with --policies must exist.
func readLibrary(dir string, explicit bool) ([]load.Source, error) {
	if explicit {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, usageErrorf("--policies %s: not a directory of Kyverno policies", dir)
		}
	}
	lib, err := compiler.ReadLibrary(dir)
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	return lib, nil
}

// wholeDirectories reports whether the paths are directories (or the default), so the
// compilation covers every environment there is.
func wholeDirectories(paths []string) bool {
	for _, p := range paths {
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			return false
		}
	}
	return true
}
