package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"guardrail.dev/guardrail/compiler/resources"
	"guardrail.dev/guardrail/simulator/backend"
)

type canIOptions struct {
	principalOptions
	namespace string
	explain   bool
	admission bool
}

// NewCanICommand returns guardrail can-i.
func NewCanICommand(s Streams) *cobra.Command {
	o := &canIOptions{}
	cmd := &cobra.Command{
		Use:   "can-i VERB RESOURCE [NAME]",
		Short: "Answer yes or no, like kubectl auth can-i, for an identity on an environment's cluster",
		Long: `Check whether an identity may perform an action on the environment's cluster, as kubectl auth
can-i does: authorization only (RBAC, the bootstrap policy, EKS access policies, system:masters).
Unlike kubectl auth can-i on EKS, access policies are included. With --admission, a create, update
or delete is also sent through the Kyverno policies, as a server-side dry run would be.

RESOURCE is a kind, a resource or resource/subresource (configmaps, pods/exec, deployments.apps),
or a non-resource URL starting with / (then VERB is an HTTP verb in lower case).

Exit codes: 0 yes, 1 no, 2 usage error.`,
		Example: `  guardrail can-i delete configmaps -n testnamespace --env dev --user elon.musk@example.com --permission-set Cell_Infra_Admin --admission --explain
  guardrail can-i list pods -n app-payments --env dev --user alice@example.com --permission-set Developer`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 || len(args) > 3 {
				return usageErrorf("can-i takes VERB RESOURCE [NAME], got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(s, args) },
	}
	o.addFlags(cmd)
	cmd.Flags().StringVarP(&o.namespace, "namespace", "n", "", "namespace of the request")
	cmd.Flags().BoolVar(&o.explain, "explain", false, "print the identity chain, the grant and the admission outcome")
	cmd.Flags().BoolVar(&o.admission, "admission", false, "also run admission (Kyverno) for create, update and delete")
	return cmd
}

func (o *canIOptions) run(s Streams, args []string) error {
	p, err := o.principal()
	if err != nil {
		return err
	}
	a := backend.Action{Verb: args[0], Namespace: o.namespace}
	if strings.HasPrefix(args[1], "/") {
		a.NonResourcePath = args[1]
		if !httpVerbs[args[0]] {
			fmt.Fprintf(s.ErrOut, "Warning: verb '%s' is not a known verb for a URL (get, post, put, patch, delete, head, options)\n", args[0])
		}
	} else {
		if !resourceVerbs[args[0]] {
			fmt.Fprintf(s.ErrOut, "Warning: verb '%s' is not a known verb\n", args[0])
		}
		var r resources.Resource
		if args[1] == "*" {
			// As kubectl auth can-i does: every resource of the core group, which only a
			// wildcard rule grants.
			if o.admission {
				return usageErrorf("--admission needs a concrete resource, not *")
			}
			r = resources.Resource{GVR: schema.GroupVersionResource{Resource: "*"}, Namespaced: true}
		} else if r, err = resources.Lookup(args[1]); err != nil {
			return usageErrorf("%v", err)
		}
		a.Resource = r
		if !r.Namespaced {
			if o.namespace != "" {
				fmt.Fprintf(s.ErrOut, "Warning: resource '%s' is not namespace scoped\n", r.GVR.Resource)
			}
			a.Namespace = ""
		}
	}
	if len(args) == 3 {
		a.Name = args[2]
	}
	a.AuthorizationOnly = !o.admission
	be, err := o.backend(s)
	if err != nil {
		return err
	}
	v, err := be.Do(context.Background(), p, a)
	if err != nil {
		return usageErrorf("%v", err)
	}
	return o.answer(s, v)
}

func (o *canIOptions) answer(s Streams, v backend.Verdict) error {
	if v.Allowed {
		fmt.Fprintln(s.Out, "yes")
	} else {
		fmt.Fprintln(s.Out, "no")
	}
	if o.explain {
		for _, l := range v.Explain() {
			fmt.Fprintln(s.Out, "  "+l)
		}
	}
	if !v.Allowed {
		return &ExitError{Code: ExitFailed}
	}
	return nil
}

var (
	resourceVerbs = map[string]bool{"get": true, "list": true, "watch": true, "create": true, "update": true, "patch": true,
		"delete": true, "deletecollection": true, "impersonate": true, "bind": true, "escalate": true, "approve": true, "sign": true, "use": true, "*": true}
	httpVerbs = map[string]bool{"get": true, "post": true, "put": true, "patch": true, "delete": true, "head": true, "options": true, "*": true}
)
