package steps

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/cucumber/godog"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"guardrail.dev/guardrail/compiler/resources"
	"guardrail.dev/guardrail/simulator/backend"
	"guardrail.dev/guardrail/simulator/identity"
	"guardrail.dev/guardrail/simulator/podidentity"
)

// Suite is what every scenario of a run shares.
type Suite struct {
	// Backend returns the backend of an environment (the runner caches them).
	Backend func(env string) (backend.Backend, error)
	// DefaultEnv is used by scenarios that do not say which environment they are about.
	DefaultEnv string

	mu           sync.Mutex
	explanations map[string][]string
}

// Explanation returns the explanation recorded for a step (by pickle step ID).
func (s *Suite) Explanation(stepID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.explanations[stepID]
}

func (s *Suite) record(stepID string, lines []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.explanations == nil {
		s.explanations = map[string][]string{}
	}
	s.explanations[stepID] = lines
}

// scenario is the state of one scenario; godog builds a new one for each.
type scenario struct {
	suite     *Suite
	env       string
	be        backend.Backend
	principal *identity.Principal
	id        *identity.Identity
	action    *backend.Action
	verdict   *backend.Verdict
	pod       *podResult
	explain   []string // explanation of the current step
}

type podResult struct {
	ns, sa string
	creds  podidentity.Credentials
	ok     bool
}

// Initialize registers the vocabulary for one scenario. Use it as godog's ScenarioInitializer.
func Initialize(suite *Suite) func(*godog.ScenarioContext) {
	return func(sc *godog.ScenarioContext) {
		s := &scenario{suite: suite, env: suite.DefaultEnv}
		for _, st := range Vocabulary {
			sc.Step(st.Pattern, st.handler(s))
		}
		sc.StepContext().Before(func(ctx context.Context, _ *godog.Step) (context.Context, error) {
			s.explain = nil
			return ctx, nil
		})
		sc.StepContext().After(func(ctx context.Context, st *godog.Step, _ godog.StepResultStatus, err error) (context.Context, error) {
			if len(s.explain) > 0 {
				suite.record(st.Id, s.explain)
				ctx = godog.Attach(ctx, godog.Attachment{FileName: "explanation.txt", MediaType: "text/plain", Body: []byte(strings.Join(s.explain, "\n") + "\n")})
			}
			return ctx, nil // the step's own error stands; returning it again would repeat it
		})
	}
}

func (s *scenario) backend() (backend.Backend, error) {
	if s.be != nil {
		return s.be, nil
	}
	if s.env == "" {
		return nil, errors.New(`no environment: add the step Given the environment "<name>" (or run with --env)`)
	}
	be, err := s.suite.Backend(s.env)
	if err != nil {
		return nil, err
	}
	s.be = be
	return be, nil
}

func (s *scenario) iAm(p identity.Principal) error {
	s.principal, s.id, s.verdict, s.action = &p, nil, nil, nil
	return nil
}

func (s *scenario) whoAmI() (*identity.Identity, error) {
	if s.principal == nil {
		return nil, errors.New(`no identity: start with a step such as Given I am "alice@example.com" using permission set "Developer"`)
	}
	if s.id != nil {
		return s.id, nil
	}
	be, err := s.backend()
	if err != nil {
		return nil, err
	}
	id, err := be.Authenticate(context.Background(), *s.principal)
	if err != nil {
		return nil, err
	}
	s.id = id
	s.explain = append(s.explain, fmt.Sprintf("identity: %s → %s → username %q, groups [%s]", id.Principal, id.Via, id.Username, strings.Join(id.Groups, ", ")))
	return id, nil
}

func (s *scenario) do(a backend.Action) error {
	if s.principal == nil {
		return errors.New(`no identity: start with a step such as Given I am "alice@example.com" using permission set "Developer"`)
	}
	be, err := s.backend()
	if err != nil {
		return err
	}
	v, err := be.Do(context.Background(), *s.principal, a)
	if err != nil {
		return err
	}
	s.action, s.verdict = &a, &v
	s.explain = append(s.explain, v.Explain()...)
	return nil
}

func (s *scenario) resourceAction(verb, what, name, namespace string) (backend.Action, error) {
	r, err := resources.Lookup(what)
	if err != nil {
		return backend.Action{}, fmt.Errorf("%v (name a kind such as ConfigMap, a resource such as configmaps or pods/exec, or qualify it: deployments.apps)", err)
	}
	if !r.Namespaced && namespace != "" && r.GVK.Kind != "Namespace" {
		return backend.Action{}, fmt.Errorf("%s is cluster-scoped: remove `in namespace %q`", r, namespace)
	}
	if r.GVK.Kind == "Namespace" && r.Subresource == "" && namespace == "" {
		namespace = ""
	}
	if (verb == "create" || verb == "update" || verb == "patch" || verb == "delete") && name == "" && r.Subresource == "" {
		name = "guardrail-" + strings.ToLower(r.GVK.Kind)
	}
	return backend.Action{Verb: verb, Resource: r, Name: name, Namespace: namespace}, nil
}

// verdictOf returns the verdict of the last action, or an error saying a When step is missing.
func (s *scenario) verdictOf() (*backend.Verdict, error) {
	if s.verdict == nil {
		return nil, errors.New(`no request yet: add a step such as When I create a ConfigMap in namespace "default"`)
	}
	return s.verdict, nil
}

func (s *scenario) fail(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if s.verdict != nil {
		msg += "\n" + indent(s.verdict.Explain())
	}
	return errors.New(msg)
}

func indent(lines []string) string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = "  " + l
	}
	return strings.Join(out, "\n")
}

func describe(v *backend.Verdict) string {
	switch {
	case v.Allowed:
		return "it was allowed"
	case v.Layer == backend.LayerAdmission:
		var who []string
		for _, r := range v.DeniedBy() {
			who = append(who, fmt.Sprintf("policy %q", r.Name))
		}
		return "it was denied at admission by " + strings.Join(who, " and ")
	case v.Layer == backend.LayerAuthorization:
		return "it was denied by RBAC (nothing granted it): " + v.Reason
	default:
		return "it was denied at " + v.Layer + ": " + v.Reason
	}
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

var (
	verbs     = `(get|list|watch|create|update|patch|delete|deletecollection|impersonate|bind|escalate|approve|use)`
	resource  = `(?:an? |the )?([A-Za-z][\w./-]*)`
	optName   = `(?: "([^"]*)")?`
	optNS     = `(?: in (?:the )?namespace "([^"]*)")?`
	actionPat = `^I ` + verbs + ` ` + resource + optName + optNS
)

func init() {
	const who, do, then, facts, pods = "Context and identity", "Actions", "Expected outcome", "Identity facts", "Pod Identity"
	def(who, `^the environment "([^"]*)"$`, `Given the environment "dev"`,
		"Selects the environment (and so the cluster) the scenario runs against. Put it in the Background. Without it, the run's --env (or the only environment) is used.",
		func(s *scenario) any {
			return func(env string) error { s.env, s.be = env, nil; _, err := s.backend(); return err }
		})
	def(who, `^I am "([^"]*)" using permission set "([^"]*)"$`, `Given I am "elon.musk@example.com" using permission set "Cell_Infra_Admin"`,
		"Signs in as an IAM Identity Center user through a permission set: the session name is the user name, the role is the permission set's AWSReservedSSO role, and EKS maps it through the access entry or aws-auth row.",
		func(s *scenario) any {
			return func(user, ps string) error {
				return s.iAm(identity.Principal{Kind: identity.SSO, SSOUser: user, PermissionSet: ps})
			}
		}).checked(func(c *Check, a []string) error {
		if !identity.ValidSessionName(a[0]) {
			return fmt.Errorf("%q is not a valid session name: 2-64 characters of letters, digits and _+=,.@-", a[0])
		}
		if c.Env != "" && !c.PermissionSets[c.Env][a[1]] {
			return fmt.Errorf("environment %q has no permission set %q; it has: %s", c.Env, a[1], keys(c.PermissionSets[c.Env]))
		}
		return nil
	})
	def(who, `^I am the IAM role "([^"]*)" with session "([^"]*)"$`, `Given I am the IAM role "arn:aws:iam::123456789012:role/AWSReservedSSO_DevOps_Admin_1234abcd" with session "ci-bot"`,
		"Assumes an IAM role with a session name (for CI roles or `aws eks get-token --role-arn`, whose session is EKSGetTokenAuth).",
		func(s *scenario) any {
			return func(arn, session string) error {
				return s.iAm(identity.Principal{Kind: identity.IAMRole, RoleARN: arn, SessionName: session})
			}
		}).checked(func(c *Check, a []string) error {
		if !roleARN.MatchString(a[0]) {
			return fmt.Errorf("%q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", a[0])
		}
		if !identity.ValidSessionName(a[1]) {
			return fmt.Errorf("%q is not a valid session name: 2-64 characters of letters, digits and _+=,.@-", a[1])
		}
		return nil
	})
	def(who, `^I am the IAM user "([^"]*)"$`, `Given I am the IAM user "arn:aws:iam::123456789012:user/bob"`,
		"Signs in with an IAM user's keys.",
		func(s *scenario) any {
			return func(arn string) error { return s.iAm(identity.Principal{Kind: identity.IAMUser, UserARN: arn}) }
		})
	def(who, `^I am the Kubernetes user "([^"]*)"$`, `Given I am the Kubernetes user "system:admin"`,
		"A raw Kubernetes identity (a client certificate, or impersonation) that no EKS mapping touches.",
		func(s *scenario) any {
			return func(u string) error { return s.iAm(identity.Principal{Kind: identity.Kubernetes, Username: u}) }
		})
	def(who, `^I am the Kubernetes user "([^"]*)" in groups? "([^"]*)"$`, `Given I am the Kubernetes user "jane" in groups "developers, auditors"`,
		"A raw Kubernetes identity with groups (comma-separated).",
		func(s *scenario) any {
			return func(u, groups string) error {
				return s.iAm(identity.Principal{Kind: identity.Kubernetes, Username: u, Groups: splitList(groups)})
			}
		})
	def(who, `^I am the service account "([^"]*)/([^"]*)"$`, `Given I am the service account "loki/loki"`,
		"A service account token of namespace/name.",
		func(s *scenario) any {
			return func(ns, name string) error {
				return s.iAm(identity.Principal{Kind: identity.ServiceAccount, Namespace: ns, ServiceAccount: name})
			}
		})
	def(who, `^I am an unknown principal "([^"]*)"$`, `Given I am an unknown principal "arn:aws:iam::123456789012:role/intruder"`,
		"An IAM role or user ARN; the cluster is expected not to know it.",
		func(s *scenario) any {
			return func(arn string) error {
				if strings.Contains(arn, ":user/") {
					return s.iAm(identity.Principal{Kind: identity.IAMUser, UserARN: arn})
				}
				return s.iAm(identity.Principal{Kind: identity.IAMRole, RoleARN: arn, SessionName: "unknown"})
			}
		})

	def(do, actionPat+`$`, `When I delete configmap "settings" in namespace "testnamespace"`,
		"Sends a request: any verb on any kind or resource (ConfigMap, configmaps, pods/exec, deployments.apps), with an optional name and namespace. Creates and updates send a minimal object of that kind; deletes send the object the overlay holds, if any.",
		func(s *scenario) any {
			return func(verb, what, name, ns string) error {
				a, err := s.resourceAction(verb, what, name, ns)
				if err != nil {
					return err
				}
				return s.do(a)
			}
		}).checked(func(c *Check, a []string) error {
		_, err := (&scenario{}).resourceAction(a[0], a[1], a[2], a[3])
		return err
	})
	def(do, `^I (create|update|delete) this(?: in (?:the )?namespace "([^"]*)")?:$`, `When I create this in namespace "testnamespace":`,
		"Sends the manifest of the doc string (YAML or JSON); kind, name and namespace come from it unless the step names the namespace.",
		func(s *scenario) any {
			return func(verb, ns string, doc *godog.DocString) error {
				var u unstructured.Unstructured
				if err := yaml.Unmarshal([]byte(doc.Content), &u.Object); err != nil || u.GetKind() == "" {
					return fmt.Errorf("the manifest is not a Kubernetes object with apiVersion and kind: %v", err)
				}
				r, err := resources.ForKind(u.GroupVersionKind())
				if err != nil {
					return err
				}
				if ns == "" {
					ns = u.GetNamespace()
				} else if m := u.GetNamespace(); m != "" && m != ns {
					return fmt.Errorf("the manifest's namespace %q does not match the step's namespace %q (kubectl refuses the same)", m, ns)
				}
				if r.Namespaced {
					u.SetNamespace(ns)
				}
				js, err := u.MarshalJSON()
				if err != nil {
					return err
				}
				return s.do(backend.Action{Verb: verb, Resource: r, Name: u.GetName(), Namespace: ns, Object: js})
			}
		}).withArg("docstring", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue")
	def(do, `^I send (GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (/\S*)$`, `When I send GET /metrics`,
		"Requests a non-resource URL.",
		func(s *scenario) any {
			return func(method, path string) error {
				return s.do(backend.Action{Verb: strings.ToLower(method), NonResourcePath: path})
			}
		})

	def(then, `^it is allowed$`, `Then it is allowed`, "The request passes authentication, authorization and admission.",
		func(s *scenario) any {
			return func() error {
				v, err := s.verdictOf()
				if err != nil {
					return err
				}
				if !v.Allowed {
					return s.fail("expected the request to be allowed, but %s", describe(v))
				}
				return nil
			}
		})
	def(then, `^it is denied$`, `Then it is denied`, "The request is refused, at any layer.",
		func(s *scenario) any {
			return func() error {
				v, err := s.verdictOf()
				if err != nil {
					return err
				}
				if v.Allowed {
					return s.fail("expected the request to be denied, but it was allowed")
				}
				return nil
			}
		})
	def(then, `^it is denied at authentication$`, `Then it is denied at authentication`,
		"EKS does not map the principal to a Kubernetes identity: no access entry and no aws-auth row.",
		func(s *scenario) any { return s.expectLayer(backend.LayerAuthentication) })
	def(then, `^it is denied by RBAC$`, `Then it is denied by RBAC`,
		"Authenticated, but neither RBAC nor an EKS access policy grants the request.",
		func(s *scenario) any { return s.expectLayer(backend.LayerAuthorization) })
	def(then, `^it is denied by policy "([^"]*)"$`, `Then it is denied by policy "guardrail-elon-cannot-touch-testnamespace"`,
		"A Kyverno policy of that name denies the request. Fails when the request is denied for another reason, and when the policy did not apply at all.",
		func(s *scenario) any { return func(p string) error { return s.expectPolicy(p, "", false) } }).checked(checkPolicy)
	def(then, `^it is denied by policy "([^"]*)" rule "([^"]*)"$`, `Then it is denied by policy "block-cluster-admin-from-ns" rule "block-cluster-admin-from-ns"`,
		"As above, naming the rule (ClusterPolicy rules; a ValidatingPolicy has none).",
		func(s *scenario) any { return func(p, r string) error { return s.expectPolicy(p, r, true) } }).checked(checkPolicy)
	def(then, `^policy "([^"]*)" does not apply$`, `Then policy "guardrail-no-cluster-admin-in-payments" does not apply`,
		"No rule of the policy matched the request (for example because the requester holds no RBAC binding the policy matches).",
		func(s *scenario) any {
			return func(p string) error {
				v, err := s.verdictOf()
				if err != nil {
					return err
				}
				if err := s.knownPolicy(p); err != nil {
					return err
				}
				for _, r := range v.Admission {
					if r.Name == p {
						return s.fail("expected policy %q not to apply, but it matched (%s)", p, r.Status)
					}
				}
				return nil
			}
		}).checked(checkPolicy)
	def(then, `^the message contains "([^"]*)"$`, `Then the message contains "may not change anything in testnamespace"`,
		"The message the client sees (the policy's message, or the API server's) contains the text.",
		func(s *scenario) any {
			return func(text string) error {
				v, err := s.verdictOf()
				if err != nil {
					return err
				}
				if !strings.Contains(v.Message, text) {
					return s.fail("expected the message to contain %q, got %q", text, v.Message)
				}
				return nil
			}
		})
	def(then, `^it is allowed by (RBAC|system:masters)$`, `Then it is allowed by RBAC`,
		"Allowed, and the grant came from an RBAC binding (or from the system:masters group).",
		func(s *scenario) any {
			return func(layer string) error {
				want := map[string]string{"RBAC": "rbac", "system:masters": "system:masters"}[layer]
				return s.expectGrant(want, "")
			}
		})
	def(then, `^it is allowed by access policy "([^"]*)"$`, `Then it is allowed by access policy "AmazonEKSViewPolicy"`,
		"Allowed, and the grant came from the named EKS access policy of the access entry.",
		func(s *scenario) any { return func(p string) error { return s.expectGrant("access-policy", p) } })

	def(facts, `^my username is "([^"]*)"$`, `Then my username is "devops-john.doe-example.com"`,
		"The Kubernetes username EKS maps the principal to.",
		func(s *scenario) any {
			return func(u string) error {
				id, err := s.whoAmI()
				if err != nil {
					return err
				}
				if id.Username != u {
					return fmt.Errorf("expected username %q, got %q (%s)", u, id.Username, id.Via)
				}
				return nil
			}
		})
	def(facts, `^my groups include "([^"]*)"$`, `Then my groups include "system:masters"`,
		"Each of the comma-separated groups is among the principal's groups.",
		func(s *scenario) any {
			return func(groups string) error {
				id, err := s.whoAmI()
				if err != nil {
					return err
				}
				for _, g := range splitList(groups) {
					if !contains(id.Groups, g) {
						return fmt.Errorf("expected groups to include %q, got [%s]", g, strings.Join(id.Groups, ", "))
					}
				}
				return nil
			}
		})
	def(facts, `^my groups are "([^"]*)"$`, `Then my groups are "developers, system:authenticated"`,
		"The principal's groups are exactly these (comma-separated, any order).",
		func(s *scenario) any {
			return func(groups string) error {
				id, err := s.whoAmI()
				if err != nil {
					return err
				}
				want, got := splitList(groups), append([]string(nil), id.Groups...)
				sort.Strings(want)
				sort.Strings(got)
				if !reflect.DeepEqual(want, got) {
					return fmt.Errorf("expected groups [%s], got [%s]", strings.Join(want, ", "), strings.Join(got, ", "))
				}
				return nil
			}
		})
	def(facts, `^my whoami is:$`, `Then my whoami is:`,
		"`kubectl auth whoami -o yaml` on the cluster prints this SelfSubjectReview. Compared as YAML: every field you write must match exactly (lists in full); fields you leave out are not compared, which is how to skip the role's unique ID (principalId, uid) and the access key ID, which only AWS knows.",
		func(s *scenario) any {
			return func(doc *godog.DocString) error {
				id, err := s.whoAmI()
				if err != nil {
					return err
				}
				got, err := identity.SelfSubjectReview(id)
				if err != nil {
					return err
				}
				var a, b any
				if err := yaml.Unmarshal([]byte(doc.Content), &a); err != nil {
					return fmt.Errorf("the expected whoami is not YAML: %w", err)
				}
				if err := yaml.Unmarshal(got, &b); err != nil {
					return err
				}
				if path, ok := subset(a, b, ""); !ok {
					return fmt.Errorf("whoami differs at %s; the cluster would print:\n%s", path, got)
				}
				return nil
			}
		}).withArg("docstring", "apiVersion: authentication.k8s.io/v1\nkind: SelfSubjectReview\nstatus:\n  userInfo:\n    username: devops-john.doe-example.com\n    ...")

	def(pods, `^a pod using service account "([^"]*)/([^"]*)" gets credentials for role "([^"]*)"$`,
		`Then a pod using service account "loki/loki" gets credentials for role "arn:aws:iam::123456789012:role/loki"`,
		"EKS Pod Identity gives pods of that service account credentials for the role.",
		func(s *scenario) any {
			return func(ns, sa, role string) error { return s.expectPod(ns, sa, role, "", true) }
		})
	def(pods, `^a pod using service account "([^"]*)/([^"]*)" gets credentials for role "([^"]*)" and target role "([^"]*)"$`,
		`Then a pod using service account "payments/ledger" gets credentials for role "arn:aws:iam::210987654321:role/payments-ledger" and target role "arn:aws:iam::333344445555:role/ledger-data"`,
		"As above, with EKS chaining to a target role.",
		func(s *scenario) any {
			return func(ns, sa, role, target string) error { return s.expectPod(ns, sa, role, target, true) }
		})
	def(pods, `^a pod using service account "([^"]*)/([^"]*)" gets no AWS credentials$`, `Then a pod using service account "loki/default" gets no AWS credentials`,
		"No Pod Identity association exists for the service account: nothing is injected.",
		func(s *scenario) any { return func(ns, sa string) error { return s.expectPod(ns, sa, "", "", false) } })
	def(pods, `^the pod's session tags are:$`, `Then the pod's session tags are:`,
		"The session tags EKS adds to the role session, all of them: a two-column table of tag and value, no header row; * matches any value (use it for kubernetes-pod-name and kubernetes-pod-uid, which depend on the pod).",
		func(s *scenario) any {
			return func(t *godog.Table) error {
				if s.pod == nil || !s.pod.ok {
					return errors.New("no pod credentials: add a step such as Then a pod using service account \"ns/sa\" gets credentials for role \"arn\"")
				}
				want := map[string]string{}
				for _, row := range t.Rows {
					if len(row.Cells) != 2 {
						return errors.New("the table needs two columns: tag and value")
					}
					want[row.Cells[0].Value] = row.Cells[1].Value
				}
				got := s.pod.creds.SessionTags
				for k, v := range want {
					if v == "*" && got[k] != "" {
						want[k] = got[k] // the pod's own name or UID, whatever the cluster gave it
					}
				}
				if !reflect.DeepEqual(want, got) {
					var lines []string
					for _, k := range sortedTagKeys(got) {
						lines = append(lines, fmt.Sprintf("  | %s | %s |", k, got[k]))
					}
					return fmt.Errorf("session tags differ; the pod's are:\n%s", strings.Join(lines, "\n"))
				}
				return nil
			}
		}).withArg("table", "| eks-cluster-arn            | arn:aws:eks:ap-northeast-2:123456789012:cluster/dev |\n| eks-cluster-name           | dev  |\n| kubernetes-namespace       | loki |\n| kubernetes-service-account | loki |\n| kubernetes-pod-name        | *    |\n| kubernetes-pod-uid         | *    |")
	def(pods, `^the pod's environment has "([^"]*)" set to "([^"]*)"$`,
		`Then the pod's environment has "AWS_CONTAINER_CREDENTIALS_FULL_URI" set to "http://169.254.170.23/v1/credentials"`,
		"The variable EKS injects into the pod's containers.",
		func(s *scenario) any {
			return func(name, value string) error {
				if s.pod == nil || !s.pod.ok {
					return errors.New("no pod credentials: add a step such as Then a pod using service account \"ns/sa\" gets credentials for role \"arn\"")
				}
				if got := s.pod.creds.Env[name]; got != value {
					return fmt.Errorf("expected %s=%q, got %q", name, value, got)
				}
				return nil
			}
		})
}

func (s *scenario) expectLayer(layer string) func() error {
	return func() error {
		v, err := s.verdictOf()
		if err != nil {
			return err
		}
		if v.Allowed || v.Layer != layer {
			what := map[string]string{backend.LayerAuthentication: "at authentication", backend.LayerAuthorization: "by RBAC"}[layer]
			return s.fail("expected the request to be denied %s, but %s", what, describe(v))
		}
		return nil
	}
}

// knownPolicy fails when the cluster has no policy of that name, so a misspelt name cannot
// make a step pass.
func (s *scenario) knownPolicy(policy string) error {
	be, err := s.backend()
	if err != nil {
		return err
	}
	names := be.Policies()
	for _, n := range names {
		if n == policy {
			return nil
		}
	}
	return fmt.Errorf("the cluster has no policy %q; it has: %s", policy, strings.Join(names, ", "))
}

func (s *scenario) expectPolicy(policy, rule string, withRule bool) error {
	v, err := s.verdictOf()
	if err != nil {
		return err
	}
	if err := s.knownPolicy(policy); err != nil {
		return err
	}
	for _, r := range v.DeniedBy() {
		if r.Name == policy && (!withRule || r.Rule == rule) {
			return nil
		}
	}
	for _, r := range v.Admission {
		if r.Name != policy {
			continue
		}
		if withRule && r.Denies {
			var rules []string
			for _, d := range v.DeniedBy() {
				if d.Name == policy {
					rules = append(rules, fmt.Sprintf("%q", d.Rule))
				}
			}
			return s.fail("expected rule %q of policy %q to deny the request, but the denying rule was %s", rule, policy, strings.Join(rules, ", "))
		}
		if !r.Denies {
			what := "passed"
			if r.Status == "fail" {
				what = "failed in audit mode, which reports without denying"
			}
			return s.fail("expected policy %q to deny the request, but it %s; %s", policy, what, describe(v))
		}
	}
	if v.Layer == backend.LayerAdmission || v.Allowed {
		return s.fail("expected policy %q to deny the request, but the policy did not apply: none of its rules matched this request; %s", policy, describe(v))
	}
	return s.fail("expected policy %q to deny the request, but %s", policy, describe(v))
}

func (s *scenario) expectGrant(layer, policy string) error {
	v, err := s.verdictOf()
	if err != nil {
		return err
	}
	if !v.Allowed {
		return s.fail("expected the request to be allowed, but %s", describe(v))
	}
	if v.GrantLayer != layer || (policy != "" && !strings.Contains(v.Grant, policy)) {
		return s.fail("expected the grant to come from %s %s, but it came from %s", layer, policy, v.Grant)
	}
	return nil
}

func (s *scenario) expectPod(ns, sa, role, target string, want bool) error {
	be, err := s.backend()
	if err != nil {
		return err
	}
	c, ok, err := be.PodCredentials(context.Background(), ns, sa)
	if err != nil {
		return err
	}
	s.pod = &podResult{ns: ns, sa: sa, creds: c, ok: ok}
	if ok {
		s.explain = append(s.explain, fmt.Sprintf("pod identity: %s/%s → association %s → role %s", ns, sa, c.AssociationARN, c.RoleARN))
		if c.TargetRoleARN != "" {
			s.explain = append(s.explain, "pod identity: chained to target role "+c.TargetRoleARN)
		}
	} else {
		s.explain = append(s.explain, fmt.Sprintf("pod identity: no association for %s/%s", ns, sa))
	}
	switch {
	case !want && ok:
		return fmt.Errorf("expected no AWS credentials, but %s/%s gets role %s", ns, sa, c.RoleARN)
	case want && !ok:
		return fmt.Errorf("expected credentials for role %s, but %s/%s has no Pod Identity association", role, ns, sa)
	case want && c.RoleARN != role:
		return fmt.Errorf("expected role %s, got %s", role, c.RoleARN)
	case want && c.TargetRoleARN != target:
		return fmt.Errorf("expected target role %q, got %q", target, c.TargetRoleARN)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// subset reports whether want is contained in got: maps by key (recursively), everything else
// equal. It returns the path of the first difference.
func subset(want, got any, path string) (string, bool) {
	wm, ok := want.(map[string]any)
	if !ok {
		return path, reflect.DeepEqual(want, got)
	}
	gm, ok := got.(map[string]any)
	if !ok {
		return path, false
	}
	keys := make([]string, 0, len(wm))
	for k := range wm {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if p, ok := subset(wm[k], gm[k], strings.TrimPrefix(path+"."+k, ".")); !ok {
			return p, false
		}
	}
	return path, true
}

var roleARN = regexp.MustCompile(`^arn:aws[\w-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$`)

func checkPolicy(c *Check, a []string) error {
	if c.Env != "" && !c.Policies[c.Env][a[0]] {
		return fmt.Errorf("environment %q has no policy %q; it has: %s", c.Env, a[0], keys(c.Policies[c.Env]))
	}
	return nil
}

func keys(m map[string]bool) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func sortedTagKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
