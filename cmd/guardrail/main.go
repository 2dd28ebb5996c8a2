// Command guardrail compiles EKS access environments into GitOps output and simulates access
// scenarios against it. See guardrail --help.
package main

import (
	"os"

	"guardrail.dev/guardrail/cmd/guardrail/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}))
}
