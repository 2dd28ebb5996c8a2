package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X guardrail.dev/guardrail/cmd/guardrail/cli.Version=v1.2.3".
var Version = ""

// Commit is set at build time by the Makefile (git rev-parse), for builds without VCS stamping.
var Commit = ""

// NewVersionCommand returns guardrail version.
func NewVersionCommand(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the guardrail version",
		Args:  noExtraArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(s.Out, versionString())
			return nil
		},
	}
}

func versionString() string {
	v, commit := Version, Commit
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 && commit == "" {
				commit = s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "v0.1.0-dev"
	}
	out := "guardrail " + v
	if commit != "" {
		out += " (commit " + commit + ")"
	}
	return fmt.Sprintf("%s %s %s/%s", out, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
