// Package identity authenticates a principal offline as Amazon EKS does: it turns "I am
// john.doe@example.com via permission set DevOps_Admin" (or an IAM role session, an IAM user, a
// raw Kubernetes user, a service account) into the Kubernetes username, UID, groups and extra the
// API server would see, and says how it got there: which access entry or aws-auth mapRoles row
// mapped the role, and whether an aws-auth row was shadowed by an access entry.
//
// Start with Authenticate, which takes a resolved environment (package compiler/model) and a
// Principal and returns an *Identity or an error: an *AuthError (see IsAuthError) is a denial at
// authentication, the API server's 401; any other error is a principal that cannot exist (an
// unknown permission set, a session name STS refuses, a malformed ARN). SelfSubjectReview renders
// an identity as `kubectl auth whoami -o yaml` prints it.
//
// # What EKS does, and where it comes from
//
//   - An Identity Center sign-in is a session of the role AWSReservedSSO_<permission set>_<suffix>;
//     the caller ARN is arn:<partition>:sts::<account>:assumed-role/<role>/<session>, without the
//     role path, and the session name is the Identity Center user name.
//   - The role is mapped by its access entry (authentication modes API and API_AND_CONFIG_MAP) or
//     its aws-auth mapRoles row (CONFIG_MAP and API_AND_CONFIG_MAP); where both are in use the access
//     entry wins. An access entry names the role ARN with its path and matches the role by identity;
//     aws-auth compares the path-less ARN case-insensitively. An IAMRole principal is matched to a
//     permission set by account and role name, ignoring path and case (IAM role names are unique
//     in an account whatever their case), and the session ARN uses the role name as declared.
//   - Templates: {{SessionName}} is the session name with every @ replaced by -,
//     {{SessionNameRaw}} the session name as is, {{AccountID}} the account, in the username and in
//     each group (model.Expand). The API server then appends system:authenticated.
//   - The session name must satisfy STS: 2 to 64 characters of [\w+=,.@-]. An IAMRole principal
//     without one gets EKSGetTokenAuth, the name `aws eks get-token --role-arn` uses.
//   - The schema declares no IAM users, so an IAM user is always refused.
//   - A service account authenticates as system:serviceaccount:<ns>:<name> with the groups
//     system:serviceaccounts, system:serviceaccounts:<ns> and system:authenticated; one that does
//     not exist gets no token.
//
// For IAM principals the UID and extra are those aws-iam-authenticator returns in its TokenReview
// (kubernetes-sigs/aws-iam-authenticator pkg/server/server.go, authenticateEndpoint, and
// pkg/token/token.go, getIdentityFromSTSResponse): the UID is
// aws-iam-authenticator:<account>:<principal ID>, where the principal ID is the role's unique ID
// (AROA…) alone, split from STS's "AROA…:<session>" user ID; the extra keys are accessKeyId
// (from the token's X-Amz-Credential), arn (the STS session ARN), canonicalArn (the path-less role
// ARN), principalId and sessionName (raw, @ kept). EKS also returns
// sigs.k8s.io/aws-iam-authenticator/principalId with the same value as principalId: that key is not
// in the upstream server.go this package was checked against, but it appears in every published
// `kubectl auth whoami` output of an EKS cluster, so it is included.
//
// # Simulated values
//
// The role's unique ID and the session's access key ID are assigned by AWS and cannot be known
// offline. RoleID and AccessKeyID derive stable stand-ins of the same shape from the ARNs (see
// their documentation), so the UID, principalId and accessKeyId shown here are simulated: compare
// them with a live cluster by shape, not by value. Service account identities carry no UID or
// extra (a real token adds the service account's UID and credential-id).
//
// Not modelled: Identity Center assignments (a principal may use any declared permission set,
// as the environment file does not list every assignment), aws-auth mapAccounts, the cluster
// creator's bootstrap admin entry, node roles, and scrubbed accounts.
package identity
