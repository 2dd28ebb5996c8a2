package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"guardrail.dev/guardrail/compiler"
	"guardrail.dev/guardrail/simulator/backend/offline"
	"guardrail.dev/guardrail/simulator/identity"
)

// principalOptions are the flags that say who is asking: shared by whoami and can-i.
type principalOptions struct {
	sourceOptions
	env            string
	user           string
	permissionSet  string
	roleARN        string
	session        string
	as             string
	asGroups       []string
	serviceAccount string
}

func (o *principalOptions) addFlags(cmd *cobra.Command) {
	o.sourceOptions.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.env, "env", "", "environment (default: the only environment)")
	f.StringVar(&o.user, "user", "", "IAM Identity Center user name (the session name), with --permission-set")
	f.StringVar(&o.permissionSet, "permission-set", "", "permission set the user signs in with")
	f.StringVar(&o.roleARN, "role-arn", "", "an IAM role ARN, with --session")
	f.StringVar(&o.session, "session", "", "the role session name")
	f.StringVar(&o.as, "as", "", "a raw Kubernetes username (no EKS mapping)")
	f.StringSliceVar(&o.asGroups, "as-group", nil, "groups of --as")
	f.StringVar(&o.serviceAccount, "service-account", "", "a service account, namespace/name")
}

func (o *principalOptions) principal() (identity.Principal, error) {
	var ps []identity.Principal
	if o.user != "" || o.permissionSet != "" {
		if o.user == "" || o.permissionSet == "" {
			return identity.Principal{}, usageErrorf("--user and --permission-set go together")
		}
		ps = append(ps, identity.Principal{Kind: identity.SSO, SSOUser: o.user, PermissionSet: o.permissionSet})
	}
	if o.roleARN != "" || o.session != "" {
		if o.roleARN == "" || o.session == "" {
			return identity.Principal{}, usageErrorf("--role-arn and --session go together")
		}
		ps = append(ps, identity.Principal{Kind: identity.IAMRole, RoleARN: o.roleARN, SessionName: o.session})
	}
	if o.as != "" {
		ps = append(ps, identity.Principal{Kind: identity.Kubernetes, Username: o.as, Groups: o.asGroups})
	} else if len(o.asGroups) > 0 {
		return identity.Principal{}, usageErrorf("--as-group needs --as")
	}
	if o.serviceAccount != "" {
		ns, name, ok := strings.Cut(o.serviceAccount, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return identity.Principal{}, usageErrorf("--service-account takes namespace/name, not %q", o.serviceAccount)
		}
		ps = append(ps, identity.Principal{Kind: identity.ServiceAccount, Namespace: ns, ServiceAccount: name})
	}
	switch len(ps) {
	case 0:
		return identity.Principal{}, usageErrorf("say who is asking: --user and --permission-set, --role-arn and --session, --as, or --service-account")
	case 1:
		return ps[0], nil
	}
	return identity.Principal{}, usageErrorf("give one identity: --user/--permission-set, --role-arn/--session, --as or --service-account")
}

// backend compiles the sources and returns the offline backend of the chosen environment.
func (o *principalOptions) backend(s Streams) (*offline.Backend, error) {
	out, err := o.compile(s)
	if err != nil {
		return nil, err
	}
	env := o.env
	if env == "" {
		if len(out.Envs) != 1 {
			var names []string
			for _, l := range out.Envs {
				names = append(names, l.Env.Name)
			}
			return nil, usageErrorf("several environments (%s): choose one with --env", strings.Join(names, ", "))
		}
		env = out.Envs[0].Env.Name
	}
	for _, l := range out.Envs {
		if l.Env.Name == env {
			return offline.New(l.Env, out.Files[env+"/"+compiler.RenderedFile], offline.Options{})
		}
	}
	return nil, usageErrorf("unknown environment %q", env)
}

// NewWhoamiCommand returns guardrail whoami.
func NewWhoamiCommand(s Streams) *cobra.Command {
	o := &principalOptions{}
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Print the SelfSubjectReview kubectl auth whoami would print on the cluster",
		Long: `Print, as YAML, the SelfSubjectReview that kubectl auth whoami -o yaml would print for an
identity on the environment's cluster: the username and groups EKS maps the principal to, and the
extra fields aws-iam-authenticator sets (arn, canonicalArn, sessionName, principalId,
accessKeyId). The role's unique ID and the access key ID cannot be known offline; they are stable
stand-ins derived from the ARN.

Exit codes: 0 printed, 1 the cluster would not authenticate the principal, 2 usage error.`,
		Example: `  guardrail whoami --env dev --user john.doe@example.com --permission-set DevOps_Admin`,
		Args:    noExtraArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := o.principal()
			if err != nil {
				return err
			}
			be, err := o.backend(s)
			if err != nil {
				return err
			}
			id, err := be.Authenticate(context.Background(), p)
			var authErr *identity.AuthError
			if errors.As(err, &authErr) {
				return &ExitError{Code: ExitFailed, Err: fmt.Errorf("Unauthorized: %s", authErr.Reason)}
			}
			if err != nil {
				return usageErrorf("%v", err)
			}
			b, err := identity.SelfSubjectReview(id)
			if err != nil {
				return err
			}
			_, err = s.Out.Write(b)
			return err
		},
	}
	o.addFlags(cmd)
	return cmd
}
