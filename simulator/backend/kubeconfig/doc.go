// Package kubeconfig is the backend "kubeconfig": it runs scenarios against any existing
// cluster reachable through a kubeconfig, strictly read-only.
//
// How it works:
//
//   - Identities: the principal is mapped to its Kubernetes identity by identity.Authenticate
//     from the environment, as offline does (an authentication error is a denial at
//     authentication). Requests are then sent as the kubeconfig's user impersonating that
//     identity (Impersonate-User, Impersonate-Group without system:authenticated, which the API
//     server adds, and Impersonate-Extra-*). The kubeconfig's user therefore needs the
//     impersonate verb on users, groups and userextras.
//   - Reads (get, list, watch) are real reads; non-resource URLs are GETs.
//   - Creates are server-side dry runs (dryRun=All). Update, patch and delete are dry runs of
//     an object that must already exist: nothing is ever created to make a step verifiable, so
//     a step on a missing object (or a create in a missing namespace) fails with "not
//     verifiable on a read-only cluster: <kind>/<name> does not exist".
//   - CONNECT (exec, attach, portforward, proxy) cannot be dry-run and is reported as not
//     verifiable. Other verbs (impersonate, bind, escalate, deletecollection) and
//     authorization-only actions are SelfSubjectAccessReviews as the impersonated identity.
//   - Denials map to layers as on the local backend: 401 is authentication, a 403 "cannot" is
//     authorization, an admission webhook denial is admission. The API server reports only
//     the first webhook that denied; to report every denying Kyverno policy the backend
//     rebuilds the dry-run AdmissionReview and sends it to every Kyverno validating webhook
//     whose rules match (by URL, or through the API server's service proxy as the kubeconfig
//     user). That is a validation call with dryRun=true: it stores nothing. When the replay is
//     impossible the first denial is reported.
//
// EKS access policies: on EKS, impersonated requests (--as, --as-group) are authorized by
// RBAC only; access policy associations do not apply to them (eks-facts §1.5). So when a
// request of an identity that authenticates through an access entry is denied by RBAC, and
// one of the access policies the environment associates with that entry would allow it (the
// offline access policy model decides), the backend returns the error "not verifiable through
// impersonation: access policies of <arn> do not apply to impersonated requests (eks-facts
// §1.5)" instead of a verdict. When no associated access policy would allow the request, the
// RBAC denial is the verdict, as it holds on EKS too. Allowed requests are reported with the
// grant layer rbac (or system:masters): the backend cannot see which rule allowed them.
//
// Pod Identity: PodCredentials reports what the environment associates with the service
// account, and only when the service account exists in the cluster (a read); the injection of
// the credentials into a pod by the EKS Pod Identity webhook is not checked, as that needs
// creating a pod.
//
// Policies are the Kyverno policies of the environment's rendered overlay (rendered.yaml),
// not the ones the cluster holds.
package kubeconfig
