package podidentity

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"guardrail.dev/guardrail/compiler/model"
)

// What EKS injects into a pod, and the agent's endpoint.
const (
	EnvCredentialsFullURI = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	EnvTokenFile          = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
	// CredentialsURI is the EKS Pod Identity Agent's IPv4 endpoint.
	CredentialsURI = "http://169.254.170.23/v1/credentials"
	// VolumeName is the projected token volume, and TokenPath the token file's name in it.
	VolumeName = "eks-pod-identity-token"
	TokenPath  = "eks-pod-identity-token"
	// MountPath is where the volume is mounted in every container.
	MountPath = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"
	// TokenFile is the token's full path, the value of AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE.
	TokenFile = MountPath + "/" + TokenPath
	// Audience of the projected service account token.
	Audience = "pods.eks.amazonaws.com"
	// TokenExpirationSeconds is the token's requested lifetime (24 hours).
	TokenExpirationSeconds = 86400
	// VolumeDefaultMode is the volume's file mode (0644).
	VolumeDefaultMode = 420
)

// Agent credential cache lifetimes.
const (
	CacheTTL           = 6 * time.Hour
	CacheTTLTargetRole = 59 * time.Minute
)

// Session tag keys EKS adds to the role session.
const (
	TagClusterARN     = "eks-cluster-arn"
	TagClusterName    = "eks-cluster-name"
	TagNamespace      = "kubernetes-namespace"
	TagServiceAccount = "kubernetes-service-account"
	TagPodName        = "kubernetes-pod-name"
	TagPodUID         = "kubernetes-pod-uid"
)

// Credentials is what EKS Pod Identity gives a pod.
type Credentials struct {
	// AssociationARN is arn:<partition>:eks:<region>:<account>:podidentityassociation/<cluster>/a-<17 chars>;
	// the ID is simulated (see AssociationID).
	AssociationARN string
	// RoleARN is the role EKS assumes; TargetRoleARN, when set, the role it then chains to, whose
	// credentials the pod gets.
	RoleARN, TargetRoleARN string
	// SessionTags are the six tags EKS puts on the role session, nil when the association
	// disables session tags. The association's own tags are not session tags.
	SessionTags map[string]string
	// ExternalID is the sts:ExternalId EKS passes when it assumes the target role with session
	// tags disabled: <region>/<account>/<cluster>/<namespace>/<service account>.
	ExternalID string
	// Env is what the webhook sets in every container.
	Env map[string]string
	// CacheTTL is how long the agent caches the credentials: 6h, or 59m with a target role.
	CacheTTL time.Duration
}

// Association returns the Pod Identity association of a service account, or ok=false.
func Association(env *model.Env, namespace, serviceAccount string) (model.PodIdentity, bool) {
	for _, pi := range env.PodIdentities {
		if pi.Namespace == namespace && pi.ServiceAccount == serviceAccount {
			return pi, true
		}
	}
	return model.PodIdentity{}, false
}

// For returns the credentials a pod named podName (UID podUID) running as service account
// namespace/serviceAccount gets, or ok=false when no association exists for it.
func For(env *model.Env, namespace, serviceAccount, podName, podUID string) (Credentials, bool) {
	pi, ok := Association(env, namespace, serviceAccount)
	if !ok {
		return Credentials{}, false
	}
	c := Credentials{
		AssociationARN: AssociationARN(env, namespace, serviceAccount),
		RoleARN:        pi.RoleARN,
		TargetRoleARN:  pi.TargetRoleARN,
		Env:            map[string]string{EnvCredentialsFullURI: CredentialsURI, EnvTokenFile: TokenFile},
		CacheTTL:       CacheTTL,
	}
	if !pi.DisableSessionTags {
		c.SessionTags = map[string]string{
			TagClusterARN:     env.ClusterARN,
			TagClusterName:    env.Cluster,
			TagNamespace:      namespace,
			TagServiceAccount: serviceAccount,
			TagPodName:        podName,
			TagPodUID:         podUID,
		}
	}
	if pi.TargetRoleARN != "" {
		c.CacheTTL = CacheTTLTargetRole
		if pi.DisableSessionTags {
			c.ExternalID = ExternalID(env, namespace, serviceAccount)
		}
	}
	return c, true
}

// ExternalID is the sts:ExternalId EKS sends to a target role when session tags are disabled.
func ExternalID(env *model.Env, namespace, serviceAccount string) string {
	return strings.Join([]string{env.Region, env.AccountID, env.Cluster, namespace, serviceAccount}, "/")
}

// AssociationID is the simulated ID of a service account's association: "a-" and 17 characters
// of lower-case base32 (a-z, 2-7) from the SHA-256 of "<cluster ARN>/<namespace>/<service
// account>". EKS draws real IDs at random when the association is created; this one is stable.
func AssociationID(env *model.Env, namespace, serviceAccount string) string {
	sum := sha256.Sum256([]byte(env.ClusterARN + "/" + namespace + "/" + serviceAccount))
	return "a-" + strings.ToLower(base32.StdEncoding.EncodeToString(sum[:])[:17])
}

// AssociationARN is the ARN of a service account's association, with the simulated ID.
func AssociationARN(env *model.Env, namespace, serviceAccount string) string {
	return fmt.Sprintf("arn:%s:eks:%s:%s:podidentityassociation/%s/%s",
		env.Partition, env.Region, env.AccountID, env.Cluster, AssociationID(env, namespace, serviceAccount))
}
