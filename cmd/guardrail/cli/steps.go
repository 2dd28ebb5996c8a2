package cli

import (
	"github.com/spf13/cobra"

	"guardrail.dev/guardrail/simulator/steps"
)

// NewStepsCommand returns guardrail steps.
func NewStepsCommand(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "steps",
		Short: "Print the step vocabulary of guardrail scenarios (docs/steps.md)",
		Long: `Print every step scenarios may use, with an example each, as Markdown: the same text as
docs/steps.md, generated from the step definitions.`,
		Args: noExtraArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := s.Out.Write(steps.Markdown())
			return err
		},
	}
}
