package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"guardrail.dev/guardrail/compiler/load"
)

type validateOptions struct {
	strict bool
	quiet  bool
}

// NewValidateCommand returns guardrail validate.
func NewValidateCommand(s Streams) *cobra.Command {
	o := &validateOptions{}
	cmd := &cobra.Command{
		Use:   "validate [paths...]",
		Short: "Check environment files and report every problem with its file:line:column",
		Long: `Check environment files: strict decoding (an unknown or misspelt field is an error), the
rules of EKS, IAM Identity Center and Kubernetes, and cross-references between permission sets,
teams, people and guardrails. Every problem of the run is reported, sorted by position, with how
to fix it; in a file that cannot be decoded (an unknown field, a value of the wrong type) the
other checks wait until the decoding errors are fixed, so they do not report consequences. Lints (for example a guardrail that matches clusterRoles where the person's power comes
from an EKS access policy) are warnings, and errors under --strict.

Paths are files or directories (their *.yaml and *.yml files); the default is environments/.

Exit codes: 0 valid, 1 invalid input, 2 usage error (bad flags, unreadable paths).`,
		Example: `  guardrail validate
  guardrail validate environments/prod.yaml --strict`,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(s, args) },
	}
	cmd.Flags().BoolVar(&o.strict, "strict", false, "treat warnings as errors")
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "print only errors")
	return cmd
}

func (o *validateOptions) run(s Streams, paths []string) error {
	sources, err := load.ReadPaths(paths)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	loaded, diags := load.Load(sources)
	if o.strict {
		diags = diags.Errors(true)
	}
	printDiagnostics(s, diags, o.quiet)
	if errs := diags.Errors(o.strict); len(errs) > 0 {
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("%s found", count(len(errs), "problem"))}
	}
	if !o.quiet {
		for _, l := range loaded {
			fmt.Fprintf(s.ErrOut, "%s: environment %q is valid\n", l.File.Path, l.Env.Name)
		}
	}
	return nil
}

func printDiagnostics(s Streams, diags load.Diagnostics, errorsOnly bool) {
	for _, d := range diags {
		if errorsOnly && d.Severity == load.Warning {
			continue
		}
		fmt.Fprintln(s.ErrOut, d.String())
	}
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// inputError maps a compile error to an exit code, printing diagnostics it carries.
func inputError(s Streams, err error) error {
	var invalid *load.InvalidError
	if errors.As(err, &invalid) {
		printDiagnostics(s, invalid.Diagnostics, false)
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("%s found", count(len(invalid.Diagnostics), "problem"))}
	}
	return &ExitError{Code: ExitFailed, Err: err}
}
