// Package v1alpha1 holds the environment file users write: one Environment per
// file under environments/. These types are the versioned, user-facing schema;
// the compiler converts them once into its internal model (package model).
//
// Field comments are the documentation: docs/environment.md and
// docs/environment.schema.json are generated from them.
package v1alpha1

// APIVersion and Kind identify an environment file.
const (
	APIVersion = "guardrail.dev/v1alpha1"
	Kind       = "Environment"
)

// Authentication modes of an EKS cluster (accessConfig.authenticationMode).
const (
	ModeConfigMap       = "CONFIG_MAP"
	ModeAPIAndConfigMap = "API_AND_CONFIG_MAP"
	ModeAPI             = "API"
)

// Environment declares who may reach one EKS cluster, as whom, and with which limits.
type Environment struct {
	// APIVersion must be guardrail.dev/v1alpha1.
	APIVersion string `json:"apiVersion" jsonschema:"enum=guardrail.dev/v1alpha1"`
	// Kind must be Environment.
	Kind string `json:"kind" jsonschema:"enum=Environment"`
	// Metadata names the environment; the name is the output directory deploy/<name>/.
	Metadata ObjectMeta `json:"metadata"`
	// Spec is the content of the environment.
	Spec EnvironmentSpec `json:"spec"`
}

// ObjectMeta names an environment.
type ObjectMeta struct {
	// Name of the environment: a DNS label (lower case letters, digits and '-'), unique across environments/.
	Name string `json:"name"`
	// Labels are copied onto nothing; they are for your own tooling.
	Labels map[string]string `json:"labels,omitempty"`
}

// EnvironmentSpec is everything the environment declares.
type EnvironmentSpec struct {
	// AWS is the account that holds the cluster and the Identity Center roles.
	AWS AWS `json:"aws"`
	// Cluster is the EKS cluster.
	Cluster Cluster `json:"cluster"`
	// PermissionSets are the IAM Identity Center permission sets whose roles reach the cluster.
	PermissionSets []PermissionSet `json:"permissionSets,omitempty"`
	// Teams group people, the permission sets they use and the namespaces they own.
	Teams []Team `json:"teams,omitempty"`
	// Namespaces the overlay creates besides the teams' namespaces (a team namespace may be listed here too, to add labels).
	Namespaces []Namespace `json:"namespaces,omitempty"`
	// Guardrails are deny rules about people, teams, groups or permission sets, compiled into Kyverno policies.
	Guardrails []Guardrail `json:"guardrails,omitempty"`
	// PodIdentities are EKS Pod Identity associations; the compiler also emits each ServiceAccount.
	PodIdentities []PodIdentity `json:"podIdentities,omitempty"`
}

// AWS names the account and region.
type AWS struct {
	// AccountID is the 12-digit AWS account ID, quoted ("123456789012") so YAML keeps leading zeros.
	AccountID string `json:"accountId" jsonschema:"pattern=^[0-9]{12}$"`
	// Region of the cluster, for example ap-northeast-2.
	Region string `json:"region"`
	// Partition of the ARNs: aws (default), aws-cn or aws-us-gov.
	Partition string `json:"partition,omitempty" jsonschema:"enum=aws,enum=aws-cn,enum=aws-us-gov"`
	// IdentityCenterRegion is the region segment of the Identity Center role path
	// aws-reserved/sso.amazonaws.com/<region>/. Defaults to region. Where your roles have no region
	// segment (seen when Identity Center lives in us-east-1), give each permission set a full roleArn instead.
	IdentityCenterRegion string `json:"identityCenterRegion,omitempty"`
}

// Cluster is the EKS cluster.
type Cluster struct {
	// Name of the EKS cluster.
	Name string `json:"name"`
	// AuthenticationMode is API, API_AND_CONFIG_MAP or CONFIG_MAP. Access entries need API or
	// API_AND_CONFIG_MAP; aws-auth rows need CONFIG_MAP or API_AND_CONFIG_MAP.
	AuthenticationMode string `json:"authenticationMode" jsonschema:"enum=API,enum=API_AND_CONFIG_MAP,enum=CONFIG_MAP"`
}

// PermissionSet is an IAM Identity Center permission set provisioned into the account,
// and how its role reaches the cluster.
type PermissionSet struct {
	// Name of the permission set (1-32 characters of [A-Za-z0-9_+=,.@-]); the role is AWSReservedSSO_<name>_<suffix>.
	Name string `json:"name"`
	// RoleSuffix is the suffix Identity Center appended to the role name (AWSReservedSSO_<name>_<suffix>).
	// Give either roleSuffix or roleArn.
	RoleSuffix string `json:"roleSuffix,omitempty"`
	// RoleARN is the full role ARN with its path, for example
	// arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/ap-northeast-2/AWSReservedSSO_Admin_0123abcd.
	RoleARN string `json:"roleArn,omitempty"`
	// AccessEntry maps the role through an EKS access entry (authentication modes API and API_AND_CONFIG_MAP).
	AccessEntry *AccessEntry `json:"accessEntry,omitempty"`
	// AWSAuth maps the role through a mapRoles row of the aws-auth ConfigMap (CONFIG_MAP and API_AND_CONFIG_MAP).
	// Where both are given, the access entry wins, as on EKS.
	AWSAuth *AWSAuthMapping `json:"awsAuth,omitempty"`
}

// AccessEntry is an EKS access entry of type STANDARD for the permission set's role.
type AccessEntry struct {
	// Username template, for example "dev:{{SessionName}}". A ':' must come before {{SessionName}} or
	// {{SessionNameRaw}}; it may not start with system:, eks:, aws:, amazon: or iam:. Omitted: EKS generates
	// arn:aws:sts::<account>:assumed-role/<role name>/{{SessionName}}.
	Username string `json:"username,omitempty"`
	// Groups are Kubernetes groups (none may start with system:; use AmazonEKSClusterAdminPolicy instead of system:masters).
	Groups []string `json:"groups,omitempty"`
	// AccessPolicies are EKS managed access policies associated with the entry.
	AccessPolicies []AccessPolicy `json:"accessPolicies,omitempty"`
}

// AccessPolicy associates one EKS managed access policy.
type AccessPolicy struct {
	// Policy is the name of an AWS managed access policy, for example AmazonEKSViewPolicy.
	Policy string `json:"policy" jsonschema:"enum=AmazonEKSAdminPolicy,enum=AmazonEKSAdminViewPolicy,enum=AmazonEKSClusterAdminPolicy,enum=AmazonEKSEditPolicy,enum=AmazonEKSSecretReaderPolicy,enum=AmazonEKSViewPolicy"`
	// Scope is where the policy applies.
	Scope AccessScope `json:"scope"`
}

// AccessScope is the scope of an access policy association.
type AccessScope struct {
	// Type is cluster or namespace.
	Type string `json:"type" jsonschema:"enum=cluster,enum=namespace"`
	// Namespaces, required for type namespace and forbidden for cluster. A trailing * matches a prefix (app-*).
	Namespaces []string `json:"namespaces,omitempty"`
}

// AWSAuthMapping is a mapRoles row of the aws-auth ConfigMap. Its rolearn is the role ARN without its path.
type AWSAuthMapping struct {
	// Username template, for example "devops-{{SessionName}}" ({{SessionName}} turns every @ into -;
	// {{SessionNameRaw}} keeps it; {{AccountID}} is the account).
	Username string `json:"username"`
	// Groups are Kubernetes groups, system:masters included.
	Groups []string `json:"groups,omitempty"`
}

// Team is a group of people who use the same permission sets and own namespaces.
type Team struct {
	// Name of the team: a DNS label.
	Name string `json:"name"`
	// PermissionSets the members use to reach the cluster (names from spec.permissionSets).
	PermissionSets []string `json:"permissionSets"`
	// Members are Identity Center user names, usually e-mail addresses; the session name of their role session.
	Members []string `json:"members"`
	// Namespaces the team owns, with the Kubernetes role its members hold there.
	Namespaces []TeamNamespace `json:"namespaces,omitempty"`
	// ClusterRoles the members hold across the cluster (a ClusterRoleBinding each), for example view.
	ClusterRoles []string `json:"clusterRoles,omitempty"`
}

// TeamNamespace is a namespace a team owns.
type TeamNamespace struct {
	// Name of the namespace.
	Name string `json:"name"`
	// Role is the ClusterRole the members are bound to there: admin, edit, view, or any ClusterRole name.
	Role string `json:"role"`
}

// Namespace is a namespace the overlay creates.
type Namespace struct {
	// Name of the namespace.
	Name string `json:"name"`
	// Labels of the namespace.
	Labels map[string]string `json:"labels,omitempty"`
}

// Guardrail is a deny rule about people, compiled into one Kyverno policy.
type Guardrail struct {
	// Name of the guardrail: a DNS label; the policy is named guardrail-<name>.
	Name string `json:"name"`
	// Deny says whom the guardrail stops, from which operations, where.
	Deny Deny `json:"deny"`
	// Message shown to the person whose request is denied; kept literal ({{ }} and $( ) are escaped).
	Message string `json:"message"`
	// Action is Deny (default: the request is refused) or Audit (reported, not refused).
	Action string `json:"action,omitempty" jsonschema:"enum=Deny,enum=Audit"`
}

// Deny selects requests. The subjects (people, teams, groups, permissionSets) are ORed; clusterRoles,
// operations, namespaces and kinds narrow the match (ANDed).
type Deny struct {
	// People are Identity Center user names; each becomes every Kubernetes username the person can present.
	People []string `json:"people,omitempty"`
	// Teams: every member of each team.
	Teams []string `json:"teams,omitempty"`
	// Groups are Kubernetes groups (request.userInfo.groups).
	Groups []string `json:"groups,omitempty"`
	// PermissionSets: anyone who reaches the cluster through the permission set, listed in a team or not.
	PermissionSets []string `json:"permissionSets,omitempty"`
	// ClusterRoles limits the guardrail to requesters that hold one of these ClusterRoles through an RBAC
	// binding (Kyverno's clusterRoles match). EKS access policies are not RBAC bindings, so an admin whose
	// power comes from AmazonEKSClusterAdminPolicy does not hold cluster-admin here; validate warns about it.
	// Compiled as a ClusterPolicy whatever --policy-kind says, since only ClusterPolicy matches on roles.
	ClusterRoles []string `json:"clusterRoles,omitempty"`
	// Operations denied: CREATE, UPDATE, DELETE, CONNECT.
	Operations []string `json:"operations" jsonschema:"enum=CREATE,enum=UPDATE,enum=DELETE,enum=CONNECT"`
	// Namespaces where the guardrail applies (the namespace objects themselves included); exact
	// names. A default Kyverno install never admits requests in kube-system, kube-public,
	// kube-node-lease and kyverno, so guardrails there never apply.
	Namespaces []string `json:"namespaces"`
	// Kinds limits the guardrail to these kinds: Kind for the core group, group/Kind otherwise
	// (ConfigMap, Secret, apps/Deployment, example.com/Widget for a custom resource); default all
	// kinds. With CONNECT, kind Pod covers kubectl exec, attach and port-forward.
	Kinds []string `json:"kinds,omitempty"`
}

// PodIdentity is an EKS Pod Identity association.
type PodIdentity struct {
	// Namespace of the service account.
	Namespace string `json:"namespace"`
	// ServiceAccount name; the compiler emits the ServiceAccount.
	ServiceAccount string `json:"serviceAccount"`
	// RoleARN of the IAM role pods assume; it must be in the cluster's account.
	RoleARN string `json:"roleArn"`
	// TargetRoleARN is an optional role, in any account, that EKS chains to from roleArn.
	TargetRoleARN string `json:"targetRoleArn,omitempty"`
	// DisableSessionTags turns off the six session tags EKS adds (eks-cluster-arn, kubernetes-namespace, ...).
	DisableSessionTags bool `json:"disableSessionTags,omitempty"`
	// Tags of the association (at most 50; keys may not start with aws:).
	Tags map[string]string `json:"tags,omitempty"`
}
