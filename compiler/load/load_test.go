package load_test

import (
	"strings"
	"testing"

	"guardrail.dev/guardrail/compiler/load"
)

// base is a valid environment; cases edit it with replacements. Its line numbers:
//
//	1 apiVersion          6 aws               11 awsAuth
//	2 kind                7 cluster           12 teams
//	3 metadata            8 permissionSets    13 - name: ops
//	4   name              9 - name: Admin     14   permissionSets
//	5 spec               10   roleSuffix      15   members
const base = `apiVersion: guardrail.dev/v1alpha1
kind: Environment
metadata:
  name: t
spec:
  aws: {accountId: "123456789012", region: eu-west-1}
  cluster: {name: t, authenticationMode: API_AND_CONFIG_MAP}
  permissionSets:
  - name: Admin
    roleSuffix: abcd
    awsAuth: {username: "admin-{{SessionName}}", groups: [system:masters]}
  teams:
  - name: ops
    permissionSets: [Admin]
    members: [a@example.com]
`

func edit(pairs ...string) string {
	s := base
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			panic("base does not contain " + pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func diagnostics(t *testing.T, yaml string) []string {
	t.Helper()
	_, ds := load.Load([]load.Source{{Path: "t.yaml", Data: []byte(yaml)}})
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

func TestBaseIsValid(t *testing.T) {
	if ds := diagnostics(t, base); len(ds) != 0 {
		t.Fatalf("base environment has diagnostics:\n%s", strings.Join(ds, "\n"))
	}
}

func TestDiagnostics(t *testing.T) {
	const guardrail = `  guardrails:
  - name: g
    deny: {people: [a@example.com], operations: [CREATE], namespaces: [ns1]}
    message: no
  namespaces: [{name: ns1}]
`
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"yaml syntax", "apiVersion: [\n", []string{
			`t.yaml:1:1: error: invalid YAML: did not find expected node content (an environment file holds one YAML document with apiVersion, kind, metadata and spec)`}},
		{"tab indentation", "apiVersion: guardrail.dev/v1alpha1\nkind: Environment\nmetadata:\n\tname: dev\n", []string{
			`t.yaml:4:1: error: invalid YAML: a tab character indents this line (YAML indents with spaces only: replace the tab with spaces)`}},
		{"empty file", "", []string{
			`t.yaml:1:1: error: invalid YAML: the file is empty (an environment file holds one YAML document with apiVersion, kind, metadata and spec)`}},
		{"second document", base + "---\nkind: Environment\n", []string{
			`t.yaml:16:1: error: a second YAML document (put each environment in a file of its own)`}},
		{"unknown field with suggestion", edit("    roleSuffix: abcd\n", "    roleSufix: abcd\n"), []string{
			`t.yaml:10:5: error: spec.permissionSets[0].roleSufix: unknown field "roleSufix" (did you mean "roleSuffix"?)`}},
		{"unknown field lists known ones", edit("metadata:\n  name: t\n", "metadata:\n  name: t\n  owner: me\n"), []string{
			`t.yaml:5:3: error: metadata.owner: unknown field "owner" (known fields: labels, name)`}},
		{"duplicate key", edit("  name: t\n", "  name: t\n  name: u\n"), []string{
			`t.yaml:5:3: error: metadata.name: field "name" is given twice (remove one of them)`}},
		{"unquoted account id", edit(`accountId: "123456789012"`, `accountId: 123456789012`), []string{
			`t.yaml:6:20: error: spec.aws.accountId: expected a string, found a number (quote it: "123456789012")`}},
		{"list expected", edit("members: [a@example.com]", "members: a@example.com"), []string{
			`t.yaml:15:14: error: spec.teams[0].members: expected a list, found the string "a@example.com" (write it as a list: [a, b] or one '- item' a line)`}},
		{"wrong apiVersion and kind", edit("guardrail.dev/v1alpha1", "guardrail.dev/v1", "kind: Environment", "kind: Env"), []string{
			`t.yaml:1:13: error: apiVersion: expected "guardrail.dev/v1alpha1", found "guardrail.dev/v1" (set apiVersion: guardrail.dev/v1alpha1)`,
			`t.yaml:2:7: error: kind: expected "Environment", found "Env" (set kind: Environment)`}},
		{"environment name", edit("  name: t\n", "  name: Dev_1\n"), []string{
			`t.yaml:4:9: error: metadata.name: "Dev_1" is not a valid environment name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?') (use lower case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`}},
		{"reserved environment name", edit("  name: t\n", "  name: base\n"), []string{
			`t.yaml:4:9: error: metadata.name: the environment name "base" is reserved (choose another name: deploy/base holds the policies/ library)`}},
		{"guardrail in a namespace Kyverno skips", base + strings.NewReplacer("namespaces: [ns1]}", "namespaces: [kube-system]}").Replace(guardrail), []string{
			`t.yaml:18:72: warning: spec.guardrails[0].deny.namespaces[0]: a default Kyverno install does not admit requests in kube-system (its resourceFilters and webhook namespaceSelector skip it), so this guardrail never applies there (protect it another way (RBAC, or a Kyverno install without this filter))`}},
		{"unknown kind", base + strings.NewReplacer("namespaces: [ns1]}", "namespaces: [ns1], kinds: [ConfigMapp, example.com/Widget]}").Replace(guardrail), []string{
			`t.yaml:18:86: error: spec.guardrails[0].deny.kinds[0]: unknown kind "ConfigMapp": the guardrail would match nothing (did you mean "ConfigMap"?)`}},
		{"account id digits", edit(`"123456789012"`, `"12345"`), []string{
			`t.yaml:6:20: error: spec.aws.accountId: "12345" is not a 12-digit account ID (an AWS account ID is exactly 12 digits)`}},
		{"region", edit("region: eu-west-1", "region: europe"), []string{
			`t.yaml:6:44: error: spec.aws.region: "europe" is not an AWS region (write a region such as eu-west-1 or ap-northeast-2)`}},
		{"authentication mode", edit("authenticationMode: API_AND_CONFIG_MAP", "authenticationMode: API_AND_CONFIGMAP"), []string{
			`t.yaml:7:42: error: spec.cluster.authenticationMode: "API_AND_CONFIGMAP" is not allowed (did you mean "API_AND_CONFIG_MAP"? allowed: API, API_AND_CONFIG_MAP, CONFIG_MAP)`}},
		{"missing cluster name", edit("{name: t, authenticationMode", "{authenticationMode"), []string{
			`t.yaml:7:12: error: spec.cluster.name: required field is missing or empty (give the EKS cluster's name)`}},
		{"unknown permission set", edit("permissionSets: [Admin]", "permissionSets: [Admn]"), []string{
			`t.yaml:14:22: error: spec.teams[0].permissionSets[0]: unknown permission set "Admn" (did you mean "Admin"? or declare it under spec.permissionSets)`}},
		{"role suffix and arn", edit("    roleSuffix: abcd\n", "    roleSuffix: abcd\n    roleArn: arn:aws:iam::123456789012:role/x\n"), []string{
			`t.yaml:11:14: error: spec.permissionSets[0].roleArn: roleSuffix and roleArn are both given (keep roleSuffix or roleArn, not both)`}},
		{"role arn without sso path", edit("    roleSuffix: abcd\n", "    roleArn: arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_abcd\n"), []string{
			`t.yaml:10:14: error: spec.permissionSets[0].roleArn: role path "/" is not the Identity Center path (Identity Center roles live under the path /aws-reserved/sso.amazonaws.com/[<region>/]; copy the ARN from aws iam get-role)`}},
		{"role arn of another permission set and account", edit("    roleSuffix: abcd\n", "    roleArn: arn:aws:iam::999999999999:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Other_abcd\n"), []string{
			`t.yaml:10:14: error: spec.permissionSets[0].roleArn: role is in account 999999999999, not in spec.aws.accountId (Identity Center provisions the role in the cluster's account: use account 123456789012)`,
			`t.yaml:10:14: error: spec.permissionSets[0].roleArn: role name "AWSReservedSSO_Other_abcd" does not belong to permission set "Admin" (Identity Center names the role AWSReservedSSO_Admin_<suffix>)`}},
		{"not an arn", edit("    roleSuffix: abcd\n", "    roleArn: arn:aws:iam::123456789012:user/bob\n"), []string{
			`t.yaml:10:14: error: spec.permissionSets[0].roleArn: "arn:aws:iam::123456789012:user/bob" is not an IAM role ARN (write arn:aws:iam::<account>:role/aws-reserved/sso.amazonaws.com/<region>/AWSReservedSSO_<name>_<suffix>)`}},
		{"same role twice", edit("  teams:\n", "  - name: Admin2\n    roleArn: arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_abcd\n    awsAuth: {username: x}\n  teams:\n"), []string{
			`t.yaml:12:5: error: spec.permissionSets[1]: permission set "Admin2" maps the same role AWSReservedSSO_Admin_abcd as spec.permissionSets[0] (each role can be mapped once: merge the two permission sets)`,
			`t.yaml:13:14: error: spec.permissionSets[1].roleArn: role name "AWSReservedSSO_Admin_abcd" does not belong to permission set "Admin2" (Identity Center names the role AWSReservedSSO_Admin2_<suffix>)`}},
		{"no mapping", edit(`    awsAuth: {username: "admin-{{SessionName}}", groups: [system:masters]}`+"\n", ""), []string{
			`t.yaml:9:5: error: spec.permissionSets[0]: permission set "Admin" does not say how its role reaches the cluster (add accessEntry (authentication modes API, API_AND_CONFIG_MAP) or awsAuth (CONFIG_MAP, API_AND_CONFIG_MAP))`}},
		{"aws-auth on an API cluster", edit("API_AND_CONFIG_MAP", "API"), []string{
			`t.yaml:11:14: error: spec.permissionSets[0].awsAuth: an API cluster has no aws-auth ConfigMap (use accessEntry: an API cluster ignores the aws-auth ConfigMap)`}},
		{"access entry on a CONFIG_MAP cluster", edit("API_AND_CONFIG_MAP", "CONFIG_MAP", `    awsAuth: {username: "admin-{{SessionName}}", groups: [system:masters]}`, `    accessEntry: {username: "a:{{SessionName}}"}`), []string{
			`t.yaml:11:18: error: spec.permissionSets[0].accessEntry: a CONFIG_MAP cluster has no access entries (use awsAuth, or change spec.cluster.authenticationMode to API_AND_CONFIG_MAP)`}},
		{"access entry system group", edit(`awsAuth: {username: "admin-{{SessionName}}", groups: [system:masters]}`, `accessEntry: {username: "a:{{SessionName}}", groups: [system:masters]}`), []string{
			`t.yaml:11:59: error: spec.permissionSets[0].accessEntry.groups[0]: EKS rejects access entry groups that start with system: ("system:masters") (associate AmazonEKSClusterAdminPolicy with cluster scope instead)`}},
		{"access entry reserved username", edit(`awsAuth: {username: "admin-{{SessionName}}", groups: [system:masters]}`, `accessEntry: {username: "eks:{{SessionName}}"}`), []string{
			`t.yaml:11:29: error: spec.permissionSets[0].accessEntry.username: access entry username "eks:{{SessionName}}" starts with eks: (EKS reserves system:, eks:, aws:, amazon: and iam:; choose another prefix)`}},
		{"access entry colon before session name", edit(`awsAuth: {username: "admin-{{SessionName}}", groups: [system:masters]}`, `accessEntry: {username: "admin-{{SessionName}}"}`), []string{
			`t.yaml:11:29: error: spec.permissionSets[0].accessEntry.username: EKS requires a ':' before {{SessionName}} or {{SessionNameRaw}} in an access entry username (put a ':' before the placeholder, for example "user:{{SessionName}}")`}},
		{"unsupported placeholder", edit(`"admin-{{SessionName}}"`, `"admin-{{AccessKeyID}}"`), []string{
			`t.yaml:11:25: error: spec.permissionSets[0].awsAuth.username: placeholder {{AccessKeyID}} is not supported here ({{AccessKeyID}} is for node and access-key mappings, not people: use {{SessionName}} or {{SessionNameRaw}} or {{AccountID}})`}},
		{"wildcard in username", edit(`"admin-{{SessionName}}"`, `"admin-*-{{SessionName}}"`), []string{
			`t.yaml:11:25: error: spec.permissionSets[0].awsAuth.username: "admin-*-{{SessionName}}" contains * or ?, which Kyverno would read as wildcards (remove * and ?)`}},
		{"access policy name and scopes", edit(`awsAuth: {username: "admin-{{SessionName}}", groups: [system:masters]}`,
			"accessEntry:\n      accessPolicies:\n      - {policy: AmazonEKSViewerPolicy, scope: {type: cluster, namespaces: [a]}}\n      - {policy: AmazonEKSEditPolicy, scope: {type: namespace}}\n      - {policy: AmazonEKSEditPolicy, scope: {type: namespace, namespaces: [a*b, Bad]}}"), []string{
			`t.yaml:13:18: error: spec.permissionSets[0].accessEntry.accessPolicies[0].policy: "AmazonEKSViewerPolicy" is not allowed (did you mean "AmazonEKSViewPolicy"? allowed: AmazonEKSAdminPolicy, AmazonEKSAdminViewPolicy, AmazonEKSClusterAdminPolicy, AmazonEKSEditPolicy, AmazonEKSSecretReaderPolicy, AmazonEKSViewPolicy)`,
			`t.yaml:13:76: error: spec.permissionSets[0].accessEntry.accessPolicies[0].scope.namespaces: a cluster scope takes no namespaces (remove namespaces, or use type: namespace)`,
			`t.yaml:14:46: error: spec.permissionSets[0].accessEntry.accessPolicies[1].scope.namespaces: a namespace scope needs namespaces (list the namespaces, for example [app-payments, dev-*])`,
			`t.yaml:15:18: error: spec.permissionSets[0].accessEntry.accessPolicies[2].policy: policy AmazonEKSEditPolicy is associated twice (merge the scopes into one association: EKS keeps one association per policy and entry)`,
			`t.yaml:15:77: error: spec.permissionSets[0].accessEntry.accessPolicies[2].scope.namespaces[0]: "a*b" is not a namespace or a namespace prefix (EKS documents only a trailing * (dev-*))`,
			`t.yaml:15:82: error: spec.permissionSets[0].accessEntry.accessPolicies[2].scope.namespaces[1]: "Bad" is not a valid namespace: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?') (use a namespace name, or a prefix followed by *)`}},
		{"bad member and duplicate", edit("members: [a@example.com]", "members: [a@example.com, a@example.com, 'bad name']"), []string{
			`t.yaml:15:30: error: spec.teams[0].members[1]: member "a@example.com" is listed twice (remove the repeated entry)`,
			`t.yaml:15:45: error: spec.teams[0].members[2]: "bad name" is not a valid session name (an Identity Center user name becomes the STS session name: 2-64 characters of letters, digits and _+=,.@-)`}},
		{"valid regions", edit("region: eu-west-1", "region: eusc-de-east-1, identityCenterRegion: us-gov-west-1"), nil},
		{"regions", edit("region: eu-west-1", "region: eu-central-12345, identityCenterRegion: mars-north-1"), []string{
			`t.yaml:6:44: error: spec.aws.region: "eu-central-12345" is not an AWS region (write a region such as eu-west-1 or ap-northeast-2)`,
			`t.yaml:6:84: error: spec.aws.identityCenterRegion: "mars-north-1" is not an AWS region (write a region such as us-east-1)`}},
		{"role names", base + "    namespaces: [{name: a, role: Edit}, {name: b, role: veiw}, {name: c, role: superuser}, {name: d, role: 'tenant:reader'}, {name: e, role: 'system:masters'}]\n", []string{
			`t.yaml:16:34: error: spec.teams[0].namespaces[0].role: "Edit" is not a valid ClusterRole name (did you mean "edit"?)`,
			`t.yaml:16:57: warning: spec.teams[0].namespaces[1].role: "veiw" is not a Kubernetes default ClusterRole (admin, cluster-admin, edit, view) (did you mean "view"? A ClusterRole "veiw" must exist in the cluster, or the binding grants nothing)`,
			`t.yaml:16:142: warning: spec.teams[0].namespaces[4].role: "system:masters" is a Kubernetes group, not a ClusterRole (a binding to it grants nothing: for full power use the ClusterRole cluster-admin, or map the permission set to the group)`}},
		{"namespace owned by two teams", base + "    namespaces: [{name: app, role: edit}]\n  - name: dev\n    permissionSets: [Admin]\n    members: [b@example.com]\n    namespaces: [{name: app, role: view}]\n", []string{
			`t.yaml:20:25: error: spec.teams[1].namespaces[0].name: namespace "app" is already owned by team "ops" (a namespace has one owning team; give the other team a ClusterRole or a second namespace)`}},
		{"two pod identities for one service account", base + "  namespaces: [{name: loki}]\n  podIdentities:\n  - {namespace: loki, serviceAccount: loki, roleArn: 'arn:aws:iam::123456789012:role/a'}\n  - {namespace: loki, serviceAccount: loki, roleArn: 'arn:aws:iam::123456789012:role/b'}\n", []string{
			`t.yaml:19:5: error: spec.podIdentities[1]: service account loki/loki already has an association (spec.podIdentities[0]) (EKS allows one association per service account: remove one, or use targetRoleArn to chain roles)`}},
		{"pod identity role in another account, bad names and tags", base + "  podIdentities:\n  - namespace: Loki\n    serviceAccount: loki_sa\n    roleArn: 'arn:aws:iam::999999999999:role/a'\n    tags: {'aws:x': y}\n", []string{
			`t.yaml:17:16: error: spec.podIdentities[0].namespace: "Loki" is not a valid namespace name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?') (use lower case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`,
			`t.yaml:17:16: warning: spec.podIdentities[0].namespace: namespace "Loki" is not declared in this environment (declare it under spec.namespaces so the overlay creates it before the ServiceAccount)`,
			`t.yaml:18:21: error: spec.podIdentities[0].serviceAccount: "loki_sa" is not a valid service account name: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*') (use lower case letters, digits, '-' and '.')`,
			`t.yaml:19:14: error: spec.podIdentities[0].roleArn: role is in account 999999999999, not 123456789012 (the role must be in the cluster's account (EKS checks iam:PassRole); put a cross-account role in targetRoleArn)`,
			`t.yaml:20:12: error: spec.podIdentities[0].tags["aws:x"]: tag keys starting with aws: are reserved (choose another key)`}},
		{"trailing document separator", base + "---\n", nil},
		{"reserved label", base + "  namespaces: [{name: a, labels: {guardrail.dev/team: x}}]\n", []string{
			`t.yaml:16:35: error: spec.namespaces[0].labels["guardrail.dev/team"]: label "guardrail.dev/team" is reserved (remove it: the API server or guardrail sets it)`}},
		{"namespace labels", base + "  namespaces: [{name: a, labels: {'bad key!': 'x', ok: 'bad value!'}}]\n", []string{
			`t.yaml:16:35: error: spec.namespaces[0].labels["bad key!"]: invalid label key "bad key!": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') (a label key is [prefix/]name, name at most 63 characters of letters, digits, '-', '_' and '.')`,
			`t.yaml:16:52: error: spec.namespaces[0].labels["ok"]: invalid label value "bad value!": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?') (a label value is at most 63 characters of letters, digits, '-', '_' and '.')`}},
		{"guardrail unknown references", base + strings.NewReplacer("people: [a@example.com]", "people: [a@exampel.com], teams: [opz], permissionSets: [Admn]").Replace(guardrail), []string{
			`t.yaml:18:21: error: spec.guardrails[0].deny.people[0]: unknown person "a@exampel.com" (did you mean "a@example.com"? or declare it under the members of a team in spec.teams)`,
			`t.yaml:18:45: error: spec.guardrails[0].deny.teams[0]: unknown team "opz" (did you mean "ops"? or declare it under spec.teams)`,
			`t.yaml:18:68: error: spec.guardrails[0].deny.permissionSets[0]: unknown permission set "Admn" (did you mean "Admin"? or declare it under spec.permissionSets)`}},
		{"guardrail operations, namespaces, action", base + strings.NewReplacer("operations: [CREATE]", "operations: [CREATE, create]", "message: no", "message: no\n    action: Warn", "namespaces: [ns1]}", "namespaces: [ns2]}").Replace(guardrail), []string{
			`t.yaml:18:58: error: spec.guardrails[0].deny.operations[1]: "create" is not allowed (did you mean "CREATE"? allowed: CREATE, UPDATE, DELETE, CONNECT)`,
			`t.yaml:18:80: warning: spec.guardrails[0].deny.namespaces[0]: namespace "ns2" is not declared in this environment (declare it under spec.namespaces, or ignore this if the cluster creates it)`,
			`t.yaml:20:13: error: spec.guardrails[0].action: "Warn" is not allowed (use one of Deny, Audit)`}},
		{"guardrail about nobody", base + strings.NewReplacer("people: [a@example.com], ", "").Replace(guardrail), []string{
			`t.yaml:18:11: error: spec.guardrails[0].deny: the guardrail names nobody, so it would stop everyone (name people, teams, groups, permissionSets or clusterRoles)`}},
		{"lint shared username", edit(`"admin-{{SessionName}}"`, `"admin"`) + guardrail, []string{
			`t.yaml:18:21: warning: spec.guardrails[0].deny.people[0]: a@example.com signs in through permission set Admin as "admin", a username everyone in that permission set shares, so the guardrail cannot single them out (put {{SessionName}} in the username of permission set Admin)`}},
		{"lint access policy trap", edit(`awsAuth: {username: "admin-{{SessionName}}", groups: [system:masters]}`,
			"accessEntry:\n      username: 'admin:{{SessionName}}'\n      accessPolicies: [{policy: AmazonEKSClusterAdminPolicy, scope: {type: cluster}}]") +
			strings.NewReplacer("people: [a@example.com]", "people: [a@example.com], clusterRoles: [cluster-admin]").Replace(guardrail), []string{
			`t.yaml:20:51: warning: spec.guardrails[0].deny.clusterRoles: permission set Admin gets its power from the EKS access policy AmazonEKSClusterAdminPolicy, which is not an RBAC binding: Kyverno computes no clusterRoles (cluster-admin) from it, so this guardrail does not apply to its users (match the people without clusterRoles, or grant the power with a ClusterRoleBinding)`}},
		{"lint unused permission set and shadowed row", edit("  teams:\n", "  - name: Dev\n    roleSuffix: ef01\n    accessEntry: {username: 'dev:{{SessionName}}'}\n    awsAuth: {username: 'dev-{{SessionName}}'}\n  teams:\n"), []string{
			`t.yaml:12:11: warning: spec.permissionSets[1].name: permission set "Dev" is used by no team (add it to a team's permissionSets, or remove it)`,
			`t.yaml:15:14: warning: spec.permissionSets[1].awsAuth: the access entry wins over the aws-auth row for the same role, so this row has no effect (remove the awsAuth row once the access entry works (eksctl utils migrate-to-access-entry))`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := diagnostics(t, c.yaml)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("diagnostics:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(c.want, "\n      "))
			}
		})
	}
}

func TestFileNameAndEnvironmentName(t *testing.T) {
	_, ds := load.Load([]load.Source{{Path: "environments/dev.yaml", Data: []byte(base)}})
	want := `environments/dev.yaml:4:9: warning: metadata.name: the environment in dev.yaml is named "t": compile names its output directory t (name the file t.yaml, or the environment "dev")`
	if len(ds) != 1 || ds[0].String() != want {
		t.Fatalf("got %v, want %s", ds, want)
	}
	for _, spec := range []string{"spec:\n", "spec: {}\n"} {
		_, ds = load.Load([]load.Source{{Path: "t.yaml", Data: []byte("apiVersion: guardrail.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: t\n" + spec)}})
		if len(ds) != 1 || !strings.HasSuffix(ds[0].String(), "error: spec: spec is empty (give it aws, cluster, permissionSets and teams (see docs/environment.md))") {
			t.Errorf("%q: got %v, want one error", spec, ds)
		}
	}
	missing := "apiVersion: guardrail.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: t\n"
	_, ds = load.Load([]load.Source{{Path: "t.yaml", Data: []byte(missing)}})
	want = `t.yaml:1:1: error: spec: required field is missing (add spec with aws, cluster, permissionSets and teams (see docs/environment.md))`
	if len(ds) != 1 || ds[0].String() != want {
		t.Fatalf("no spec: got %v, want %s", ds, want)
	}
}

func TestDuplicateEnvironmentNames(t *testing.T) {
	_, ds := load.Load([]load.Source{{Path: "a/t.yaml", Data: []byte(base)}, {Path: "b/t.yaml", Data: []byte(base)}})
	want := `b/t.yaml:4:9: error: metadata.name: environment "t" is already declared in a/t.yaml (give each environment a name of its own)`
	if len(ds) != 1 || ds[0].String() != want {
		t.Fatalf("got %v, want %s", ds, want)
	}
}

func TestStrictTurnsWarningsIntoErrors(t *testing.T) {
	_, ds := load.Load([]load.Source{{Path: "t.yaml", Data: []byte(base + "  - name: b\n    permissionSets: [Admin]\n    members: [b@example.com]\n")}})
	if len(ds.Errors(false)) != 0 || len(ds.Warnings()) != 0 {
		t.Fatalf("unexpected diagnostics %v", ds)
	}
	_, ds = load.Load([]load.Source{{Path: "t.yaml", Data: []byte(edit("  teams:\n", "  - {name: Unused, roleSuffix: ff, awsAuth: {username: u}}\n  teams:\n"))}})
	if len(ds.Errors(false)) != 0 || len(ds.Errors(true)) != 1 {
		t.Fatalf("want one warning that is an error under strict, got %v", ds)
	}
}
