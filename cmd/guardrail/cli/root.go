// Package cli is the guardrail command tree. Main runs it and turns errors into exit codes in
// one place; each command lives in its own file as New<Name>Command(streams).
package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes of every command.
const (
	ExitOK          = 0 // success: valid, compiled, up to date, all scenarios passed
	ExitFailed      = 1 // invalid input, --check found drift, a scenario failed, can-i answered no
	ExitUsage       = 2 // bad flags or arguments, unreadable paths, bad feature files
	ExitUnavailable = 3 // a simulation backend could not be started or reached
)

// Streams are the command's standard streams: Out carries data, ErrOut status and diagnostics.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// ExitError carries an exit code; a nil Err means the message was already printed.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit code %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

func usageErrorf(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// Main runs guardrail with args and returns the exit code.
func Main(args []string, s Streams) int {
	root := NewRootCommand(s)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	code := ExitFailed
	var exit *ExitError
	if errors.As(err, &exit) {
		code = exit.Code
		if exit.Err == nil {
			return code
		}
	}
	fmt.Fprintf(s.ErrOut, "error: %v\n", err)
	return code
}

// NewRootCommand returns the guardrail command with every subcommand.
func NewRootCommand(s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "guardrail",
		Short: "Compile and test who may reach an EKS cluster, as whom, and with which limits",
		Long: `guardrail compiles one file per environment (environments/<env>.yaml) into EKS access
entries, policy associations and Pod Identity associations, aws-auth, kustomize overlays and
Kyverno policies, and proves with Gherkin scenarios (features/*.feature) that the result does
what the security team wrote down.

Exit codes: 0 success, 1 invalid input or failed check, 2 usage error, 3 backend unavailable.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q for guardrail; run guardrail --help", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	root.Version = versionString()
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	root.SetIn(s.In)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%w\nrun %s --help for usage", err, cmd.CommandPath())}
	})
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(
		NewValidateCommand(s),
		NewCompileCommand(s),
		NewSimulateCommand(s),
		NewWhoamiCommand(s),
		NewCanICommand(s),
		NewStepsCommand(s),
		NewVersionCommand(s),
	)
	return root
}

// noExtraArgs is cobra.NoArgs with a usage exit code.
func noExtraArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}
