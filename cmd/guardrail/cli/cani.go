package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/printers"
	rbacutil "k8s.io/kubectl/pkg/util/rbac"

	"guardrail.dev/guardrail/compiler/resources"
	"guardrail.dev/guardrail/simulator/backend"
	"guardrail.dev/guardrail/simulator/identity"
)

type canIOptions struct {
	principalOptions
	namespace string
	explain   bool
	admission bool
	list      bool
	// allNamespaces asks cluster-wide, as kubectl auth can-i -A does.
	allNamespaces bool
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

The namespace is -n, default when not given as with kubectl; -A asks cluster-wide. For a
cluster-scoped resource the namespace is dropped, as the real request has none.

RESOURCE is a kind, a resource or resource/subresource (configmaps, pods/exec, deployments.apps),
or a non-resource URL starting with / (then VERB is an HTTP verb in lower case); * * asks for
everything, as kubectl does.

With --list, print every rule the identity has in the namespace, in kubectl auth can-i --list's
table (RBAC, as a SelfSubjectRulesReview returns it), then the EKS access policies that also
apply there, which that list does not show.

Exit codes: 0 yes, 1 no, 2 usage error.`,
		Example: `  guardrail can-i delete configmaps -n testnamespace --env dev --user elon.musk@example.com --permission-set Cell_Infra_Admin --admission --explain
  guardrail can-i list pods -n app-payments --env dev --user alice@example.com --permission-set Developer
  guardrail can-i --list -n app-payments --env dev --user alice@example.com --permission-set Developer`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.list {
				if len(args) > 0 {
					return usageErrorf("can-i --list takes no VERB or RESOURCE, got %q", args)
				}
				return nil
			}
			if len(args) < 2 || len(args) > 3 {
				return usageErrorf("can-i takes VERB RESOURCE [NAME], got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(s, args) },
	}
	o.addFlags(cmd)
	cmd.Flags().StringVarP(&o.namespace, "namespace", "n", "default", "namespace of the request (kubectl's default: default)")
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "ask for every namespace: a cluster-wide request")
	cmd.Flags().BoolVar(&o.explain, "explain", false, "print the identity chain, the grant and the admission outcome")
	cmd.Flags().BoolVar(&o.admission, "admission", false, "also run admission (Kyverno) for create, update and delete")
	cmd.Flags().BoolVar(&o.list, "list", false, "list what the identity may do in the namespace (-n), as kubectl auth can-i --list does, plus the EKS access policies that apply there")
	return cmd
}

func (o *canIOptions) run(s Streams, args []string) error {
	p, err := o.principal()
	if err != nil {
		return err
	}
	if o.allNamespaces {
		o.namespace = ""
	}
	if o.list {
		if o.admission {
			return usageErrorf("--list answers from authorization only: drop --admission")
		}
		return o.runList(s, p)
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
			// The real request has no namespace (kubectl auth can-i would keep it, and a
			// RoleBinding could then answer for a request that cannot exist).
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

// runList prints the identity's rules as kubectl auth can-i --list prints a
// SelfSubjectRulesReview (kubectl's own breakdown, compaction, order and columns), then the EKS
// access policies that apply in the namespace, which that review does not show.
func (o *canIOptions) runList(s Streams, p identity.Principal) error {
	be, err := o.backend(s)
	if err != nil {
		return err
	}
	_, rules, policies, err := be.Rules(context.Background(), p, o.namespace)
	var authErr *identity.AuthError
	if errors.As(err, &authErr) {
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("not authenticated: %s", authErr.Reason)}
	}
	if err != nil && rules == nil {
		return usageErrorf("%v", err)
	}
	if err != nil {
		fmt.Fprintf(s.ErrOut, "Warning: the list may be incomplete: %v\n", err)
	}
	var broken []rbacv1.PolicyRule
	for _, r := range rules {
		broken = append(broken, rbacutil.BreakdownRule(r)...)
	}
	compact, err := rbacutil.CompactRules(broken)
	if err != nil {
		return err
	}
	sort.Stable(rbacutil.SortableRuleSlice(compact))
	w := printers.GetNewTabWriter(s.Out)
	fmt.Fprintln(w, strings.Join([]string{"Resources", "Non-Resource URLs", "Resource Names", "Verbs"}, "\t"))
	for _, r := range compact {
		fmt.Fprintf(w, "%s\t%v\t%v\t%v\n", combineResourceGroup(r.Resources, r.APIGroups), r.NonResourceURLs, r.ResourceNames, r.Verbs)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(policies) > 0 {
		fmt.Fprintf(s.ErrOut, "Note: EKS access policies also apply here, which kubectl auth can-i --list does not show: %s\n", strings.Join(policies, "; "))
	}
	return nil
}

// combineResourceGroup is k8s.io/kubectl/pkg/describe.CombineResourceGroup (v0.36.3), the
// "resource.group/subresource" column of kubectl auth can-i --list; that package would pull in
// kubectl's every describer for ten lines.
func combineResourceGroup(resource, group []string) string {
	if len(resource) == 0 {
		return ""
	}
	parts := strings.SplitN(resource[0], "/", 2)
	combine := parts[0]
	if len(group) > 0 && group[0] != "" {
		combine = combine + "." + group[0]
	}
	if len(parts) == 2 {
		combine = combine + "/" + parts[1]
	}
	return combine
}
