// Package authz decides, offline, whether an authenticated user may make a Kubernetes API request on
// an Amazon EKS cluster, and explains why.
//
// Start with New, which takes the cluster's RBAC objects (from the rendered manifests) and its EKS
// access policy associations, then call Authorizer.Authorize for each Request. The Decision says
// whether the request is allowed, which layer allowed it, and the binding, role and rule or the access
// policy and scope that granted it; a denial carries the API server's 403 message and what was checked.
//
// Requests go through the layers of an EKS API server's authorizer chain, first allow wins:
//
//  1. system:masters. Members of the group are allowed everything by the kube-apiserver's
//     privileged-group authorizer (k8s.io/apiserver/pkg/authorization/authorizerfactory), before RBAC.
//     Admission still applies, so Kyverno still sees their requests.
//  2. Kubernetes RBAC, with upstream semantics: the rule resolver of
//     k8s.io/kubernetes/pkg/registry/rbac/validation over in-memory getters and listers, and
//     rbac.RuleAllows from k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac, which is what
//     rbac.RBACAuthorizer runs (a test compares the two on tens of thousands of requests).
//  3. EKS access policies associated with the access entry that authenticated the user
//     (Request.PrincipalARN). They only allow or pass, never deny, and are not RBAC objects: a
//     Kyverno match on clusterRoles does not see them. Their rules are tables transcribed from the EKS
//     User Guide (see AccessPolicyRules), matched with the same rbac.RuleAllows.
//
// The RBAC objects are those of a running Kubernetes cluster of the version this module builds
// against: the bootstrap policy (bootstrappolicy.ClusterRoles, ControllerRoles, NamespaceRoles and their
// bindings) is reconciled over the user's objects with the API server's own reconciliation code, and
// aggregated ClusterRoles (admin, edit, view, and any user ClusterRole with an aggregationRule) are
// filled in as kube-controller-manager's clusterrole-aggregation controller does; a test runs that
// controller against a fake API server and compares.
//
// Not modelled: the Node authorizer (kubelets' system:node:* identities get only what RBAC grants
// them), RBAC objects EKS itself creates in a cluster (eks:* roles and bindings; pass them in
// RBACObjects if they matter), and the order of RBAC and the EKS authorizer inside EKS, which is
// unpublished: when both would allow a request, the Decision names the RBAC grant.
package authz
