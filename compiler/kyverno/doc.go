// Package kyverno drives Kyverno v1.19.1 as a library: it parses and validates the policies the
// guardrail compiler emits, and simulates Kyverno's admission controller on admission requests. It is
// the only package of the project that imports github.com/kyverno/kyverno (which brings in the AWS,
// Azure, GCP and sigstore SDKs: keep it out of binaries that do not need it).
//
// # Policies
//
// ParsePolicy accepts a ClusterPolicy (kyverno.io/v1) or a ValidatingPolicy (policies.kyverno.io/v1;
// v1beta1 has the same schema). It decodes strictly (unknown or duplicate fields are errors) and runs
// Kyverno's own validation, so a policy it accepts is one the Kyverno CLI and admission webhook accept
// too. Errors read "<Kind>/<name>: <Kyverno's message>".
//
// # Evaluation
//
// Engine.Evaluate follows one admission request through what a live Kyverno does with it:
//
//  1. The API server only calls Kyverno's webhooks for objects in namespaces their namespaceSelector
//     selects (a default install leaves out kube-system and kyverno).
//  2. handlers.withRoles: request.roles and request.clusterRoles are computed from the RBAC bindings with
//     pkg/userinfo.GetRoleRef (exact subject match, no aggregation; a RoleBinding to a ClusterRole counts
//     only in its own namespace).
//  3. handlers.withFilter: excludeGroups/excludeUsernames/excludeRoles/excludeClusterRoles, then
//     resourceFilters (matched on the parent kind of a subresource), then Kyverno's report kinds. Such a
//     request is allowed with Verdict.Excluded saying why.
//  4. ClusterPolicies: engine.NewPolicyContextFromAdmissionRequest then Engine.Validate for each policy
//     (the webhook path, not the CLI one: request.name, request.namespace and so on are all set, and
//     DELETE matches the old object). A failing rule denies when it resolves to Enforce (per-rule
//     validate.failureAction and failureActionOverrides, else the deprecated
//     spec.validationFailureAction); an erroring one when it is Enforce and the policy's failurePolicy
//     is Fail.
//  5. ValidatingPolicies: the vpol engine (pkg/cel/policies/vpol/engine) with the request as admitted,
//     namespaceObject synthesized from Request.Namespace and Request.NamespaceLabels (plus
//     kubernetes.io/metadata.name). validationActions Deny makes fail and error results deny, Warn makes
//     them warnings, Audit only records them. When a policy's matchConditions are false the engine says
//     "skip"; live, the API server evaluates those conditions itself (Kyverno copies them into the
//     policy's webhook) and never calls Kyverno, so such a skip is not reported.
//
// Matching subresources: Kyverno matches a subresource request on the parent kind ("Pod/exec",
// "Deployment/scale"); kinds: ["*"] matches no subresource, "*/*" matches them all. kubectl exec is
// CONNECT pods/exec, with the PodExecOptions as Object, on which Kyverno sets the request namespace,
// so `namespaces` applies (see TestConnectExec).
//
// Verdict.Results lists every rule that matched; a rule or policy that did not match gives no Result
// (Kyverno's RuleResponse list is empty for it), which is what an explanation should show as "not
// applicable" rather than "pass".
//
// What is not simulated: mutation (a ClusterPolicy's mutate rules, MutatingPolicies: validation sees the
// object as sent), PolicyExceptions, context entries that call the API server or an image registry,
// image verification, Policy/NamespacedValidatingPolicy kinds, spec.webhookConfiguration.matchConditions
// of ClusterPolicies (ParsePolicy rejects them: validating them needs an API server), and
// spec.applyRules: One across rules of different failure actions (live, the Enforce and the Audit
// rules are two separate passes; here a policy is validated once, whole).
//
// # Performance
//
// NewEngine compiles nothing (ParsePolicy did); Evaluate is safe for concurrent use (tested under
// -race). Before any Kyverno code runs, a conservative prefilter drops the policies that cannot
// produce a result for the request:
//
//   - ClusterPolicy: the operations, kinds, namespaces, roles, clusterRoles and subjects of its match
//     blocks (autogen rules included), with the semantics of pkg/engine/utils.MatchesResourceDescription,
//     pkg/utils/match.CheckKind and CheckSubjects and ext/wildcard, on patterns parsed once;
//   - ValidatingPolicy: matchConditions made of && || ! over request.namespace, request.operation,
//     request.userInfo.username (in [literals], == and != literals, has()) and 'literal' in
//     request.userInfo.groups, evaluated as true/false/unknown (an absent field is an error, hence
//     unknown); one false condition means the policy does not apply.
//
// TestPrefilterIsConservative checks that the verdicts are the same with the prefilter off. A request
// no policy can match costs a JSON decode, the role computation and the exclusion checks; a policy that
// reaches the vpol engine costs some 20-40µs (Kyverno converts the admission request for CEL once per
// policy). See BenchmarkEvaluate.
//
// ParsePolicy is the slow part: compiling a ValidatingPolicy builds Kyverno's CEL environment, a few
// milliseconds each.
//
// # Logging
//
// Kyverno logs through controller-runtime's process-wide logger. Like the Kyverno CLI, the first
// ParsePolicy or NewEngine sets it to discard; controller-runtime keeps the first logger it is given,
// so a program that wants Kyverno's logs calls sigs.k8s.io/controller-runtime/pkg/log.SetLogger first.
//
// # Escaping user text in ClusterPolicy messages
//
// A ClusterPolicy message (like any other string of a rule) goes through Kyverno's substitution
// (pkg/engine/variables), first of references, then of variables:
//
//   - "$(" + at least one character + non-spaces + ")" is a reference to another field of the rule,
//     also in a message: ParsePolicy rejects "see $(foo)" with "policy contains invalid variables:
//     variable substitution failed for rule deny-all: got nil resolved variable $(foo) at path
//     /validate/message". `\$(foo)` gives "$(foo)". "$(a b)" and "$()" are not references.
//   - "{{ ... }}" not preceded by a backslash is a JMESPath variable ("{{ request.namespace }}" gives
//     the namespace). After substitution every `\{{` becomes "{{", so `\{{ x }}` gives "{{ x }}" and
//     `\\{{ x }}` gives `\{{ x }}`. A lone "{" and any "}" need nothing.
//
// EscapeMessage applies both rules: each run of n >= 2 "{" becomes n/2 times `\{{` (n even) or "{" and
// (n-1)/2 times `\{{` (n odd), and a backslash goes before each "$(" that would be a reference; it is
// tested to round-trip arbitrary text through Kyverno. If substitution fails at admission time Kyverno
// silently replaces the whole deny message with the (empty) condition message, so escaping matters.
//
// ValidatingPolicy messages are plain strings (message) or CEL (messageExpression): no Kyverno
// substitution, only CEL string-literal escaping in messageExpression.
//
// # ValidatingPolicy matchConditions and cluster-scoped requests
//
// In the CEL request, empty fields are absent rather than "" (the AdmissionRequest is converted with
// omitempty): for a cluster-scoped object request.namespace does not exist, and
// "request.namespace in ['ns']" is an error ("no such key: namespace"), not false. Kyverno's engine and
// the API server (which evaluates the same matchConditions on the policy's webhook) then apply the
// policy's failurePolicy, Fail by default: the request is denied. A false condition wins over an error
// in another one, so only the users named in the policy are affected, but all their cluster-scoped
// requests are. Guard such conditions with has(): "has(request.namespace) && request.namespace in
// [...]". A matchConstraints.namespaceSelector is no way out: like a webhook's, it does not restrict
// cluster-scoped objects (other than Namespace objects), so such a policy applies to all of them. On
// DELETE a ValidatingPolicy sees object as an empty map, not null.
package kyverno
