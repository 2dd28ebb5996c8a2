// Package podidentity models what Amazon EKS Pod Identity gives a pod: the role it gets
// credentials for, the session tags on that role session, and what the EKS Pod Identity webhook
// writes into the pod spec.
//
// Start with For, which looks up the association of a service account in a resolved environment
// (package compiler/model) and returns the Credentials a pod running as it gets. Mutate applies
// the webhook's change to a corev1.Pod, and Patch returns the same change as an RFC 6902 JSON
// Patch for a live mutating admission webhook.
//
// The facts, from the EKS User Guide (pod-id-how-it-works, pod-id-role, pod-id-abac,
// pod-id-assign-target-role) and live pod specs published in the EKS workshop:
//
//   - One association per service account; the namespace and service account need not exist.
//   - EKS assumes the association's role and tags the session with eks-cluster-arn,
//     eks-cluster-name, kubernetes-namespace, kubernetes-service-account, kubernetes-pod-name and
//     kubernetes-pod-uid, unless session tags are disabled. The association's tags are resource
//     tags, never session tags.
//   - With a target role, EKS chains from the role to the target role; if session tags are
//     disabled it passes sts:ExternalId <region>/<account>/<cluster>/<namespace>/<service account>.
//     The agent caches credentials for 6 hours, 59 minutes with a target role.
//   - The webhook adds AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials and
//     AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token
//     to each container (in that order, as live pods show them; a variable the container sets
//     itself is kept), and a projected volume eks-pod-identity-token (a service account token with
//     audience pods.eks.amazonaws.com, expirationSeconds 86400, path eks-pod-identity-token,
//     defaultMode 420) mounted read-only at /var/run/secrets/pods.eks.amazonaws.com/serviceaccount.
//
// Simulated: the association ID (EKS draws it at random; see AssociationID). Not modelled: the
// inline session policy, the agent's IPv6 endpoint, the pod's role session name, platforms
// without Pod Identity (Fargate, Windows), ephemeral containers, and credentials earlier in the
// SDK chain (IRSA, static keys) that would win over Pod Identity.
package podidentity
