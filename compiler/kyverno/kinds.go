package kyverno

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// parentKinds maps group/resource to the kind, for the built-in resources that have subresources.
// Live, Kyverno asks discovery (handlers.withTopLevelGVK); offline this table stands in for it.
var parentKinds = map[schema.GroupResource]string{
	{Group: "", Resource: "pods"}:                                                    "Pod",
	{Group: "", Resource: "services"}:                                                "Service",
	{Group: "", Resource: "nodes"}:                                                   "Node",
	{Group: "", Resource: "namespaces"}:                                              "Namespace",
	{Group: "", Resource: "persistentvolumeclaims"}:                                  "PersistentVolumeClaim",
	{Group: "", Resource: "persistentvolumes"}:                                       "PersistentVolume",
	{Group: "", Resource: "replicationcontrollers"}:                                  "ReplicationController",
	{Group: "", Resource: "resourcequotas"}:                                          "ResourceQuota",
	{Group: "", Resource: "serviceaccounts"}:                                         "ServiceAccount",
	{Group: "apps", Resource: "deployments"}:                                         "Deployment",
	{Group: "apps", Resource: "replicasets"}:                                         "ReplicaSet",
	{Group: "apps", Resource: "statefulsets"}:                                        "StatefulSet",
	{Group: "apps", Resource: "daemonsets"}:                                          "DaemonSet",
	{Group: "batch", Resource: "jobs"}:                                               "Job",
	{Group: "batch", Resource: "cronjobs"}:                                           "CronJob",
	{Group: "autoscaling", Resource: "horizontalpodautoscalers"}:                     "HorizontalPodAutoscaler",
	{Group: "policy", Resource: "poddisruptionbudgets"}:                              "PodDisruptionBudget",
	{Group: "networking.k8s.io", Resource: "ingresses"}:                              "Ingress",
	{Group: "certificates.k8s.io", Resource: "certificatesigningrequests"}:           "CertificateSigningRequest",
	{Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"}:           "CustomResourceDefinition",
	{Group: "apiregistration.k8s.io", Resource: "apiservices"}:                       "APIService",
	{Group: "admissionregistration.k8s.io", Resource: "validatingadmissionpolicies"}: "ValidatingAdmissionPolicy",
	{Group: "flowcontrol.apiserver.k8s.io", Resource: "flowschemas"}:                 "FlowSchema",
	{Group: "flowcontrol.apiserver.k8s.io", Resource: "prioritylevelconfigurations"}: "PriorityLevelConfiguration",
	{Group: "storage.k8s.io", Resource: "volumeattachments"}:                         "VolumeAttachment",
	{Group: "resource.k8s.io", Resource: "resourceclaims"}:                           "ResourceClaim",
}

// topLevelKind is the kind Kyverno matches on: the kind of the resource, not of the subresource.
func topLevelKind(req Request) (schema.GroupVersionKind, error) {
	if !req.ParentKind.Empty() {
		return req.ParentKind, nil
	}
	if req.SubResource == "" {
		return req.Kind, nil
	}
	kind, ok := parentKinds[req.Resource.GroupResource()]
	if !ok {
		return schema.GroupVersionKind{}, fmt.Errorf("subresource %s/%s of %s: set Request.ParentKind, the kind is not in the built-in table", req.Resource.Resource, req.SubResource, req.Resource.GroupVersion())
	}
	return req.Resource.GroupVersion().WithKind(kind), nil
}
