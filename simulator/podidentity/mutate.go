package podidentity

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"guardrail.dev/guardrail/compiler/model"
)

// TokenVolume is the projected service account token volume the webhook adds.
func TokenVolume() corev1.Volume {
	return corev1.Volume{
		Name: VolumeName,
		VolumeSource: corev1.VolumeSource{
			Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{
					ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
						Audience:          Audience,
						ExpirationSeconds: ptr.To[int64](TokenExpirationSeconds),
						Path:              TokenPath,
					},
				}},
				DefaultMode: ptr.To[int32](VolumeDefaultMode),
			},
		},
	}
}

// TokenVolumeMount is the read-only mount of TokenVolume the webhook adds to every container.
func TokenVolumeMount() corev1.VolumeMount {
	return corev1.VolumeMount{Name: VolumeName, MountPath: MountPath, ReadOnly: true}
}

// InjectedEnv is the environment the webhook adds to every container, in the order it adds it.
func InjectedEnv() []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: EnvCredentialsFullURI, Value: CredentialsURI},
		{Name: EnvTokenFile, Value: TokenFile},
	}
}

// containerRef names a container of a pod: field is containers or initContainers.
type containerRef struct {
	field string
	index int
}

// containerPlan is what one container is missing.
type containerPlan struct {
	ref      containerRef
	hadEnv   bool
	env      []corev1.EnvVar
	hadMount bool
	mount    bool
}

// plan is every change the webhook would make to a pod.
type plan struct {
	hadVolumes bool
	volume     bool
	containers []containerPlan
}

func (p plan) empty() bool {
	if p.volume {
		return false
	}
	for _, c := range p.containers {
		if len(c.env) > 0 || c.mount {
			return false
		}
	}
	return true
}

// serviceAccountOf returns the pod's namespace and service account, with the API server's
// defaults ("default" for both) where they are empty.
func serviceAccountOf(pod *corev1.Pod) (string, string) {
	ns, sa := pod.Namespace, pod.Spec.ServiceAccountName
	if ns == "" {
		ns = "default"
	}
	if sa == "" {
		sa = "default"
	}
	return ns, sa
}

// planFor works out the changes; ok is false when the pod's service account has no association.
func planFor(pod *corev1.Pod, env *model.Env) (plan, bool) {
	ns, sa := serviceAccountOf(pod)
	if _, ok := Association(env, ns, sa); !ok {
		return plan{}, false
	}
	p := plan{hadVolumes: len(pod.Spec.Volumes) > 0, volume: true}
	for _, v := range pod.Spec.Volumes {
		if v.Name == VolumeName {
			p.volume = false
		}
	}
	add := func(field string, cs []corev1.Container) {
		for i := range cs {
			c := &cs[i]
			cp := containerPlan{ref: containerRef{field, i}, hadEnv: len(c.Env) > 0, hadMount: len(c.VolumeMounts) > 0, mount: true}
			for _, want := range InjectedEnv() {
				set := false
				for _, e := range c.Env {
					if e.Name == want.Name {
						set = true
					}
				}
				if !set {
					cp.env = append(cp.env, want)
				}
			}
			for _, m := range c.VolumeMounts {
				if m.Name == VolumeName || m.MountPath == MountPath {
					cp.mount = false
				}
			}
			p.containers = append(p.containers, cp)
		}
	}
	add("initContainers", pod.Spec.InitContainers)
	add("containers", pod.Spec.Containers)
	return p, true
}

// Mutate does to a pod what the EKS Pod Identity webhook does when the pod's service account
// (spec.serviceAccountName in metadata.namespace, "default" where empty) has an association: it
// adds AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE to every
// container and init container that does not set them already, the projected token volume
// eks-pod-identity-token, and its read-only mount at
// /var/run/secrets/pods.eks.amazonaws.com/serviceaccount in every container that has neither a
// mount of that volume nor something else at that path. It returns whether it changed the pod;
// a second call changes nothing.
func Mutate(pod *corev1.Pod, env *model.Env) bool {
	p, ok := planFor(pod, env)
	if !ok || p.empty() {
		return false
	}
	for _, cp := range p.containers {
		c := container(pod, cp.ref)
		c.Env = append(c.Env, cp.env...)
		if cp.mount {
			c.VolumeMounts = append(c.VolumeMounts, TokenVolumeMount())
		}
	}
	if p.volume {
		pod.Spec.Volumes = append(pod.Spec.Volumes, TokenVolume())
	}
	return true
}

func container(pod *corev1.Pod, ref containerRef) *corev1.Container {
	if ref.field == "initContainers" {
		return &pod.Spec.InitContainers[ref.index]
	}
	return &pod.Spec.Containers[ref.index]
}

// Operation is one RFC 6902 JSON Patch operation.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Patch returns the RFC 6902 JSON Patch that makes Mutate's change to the pod, as a mutating
// admission webhook answers; nil when Mutate would change nothing. The pod is not modified.
func Patch(pod *corev1.Pod, env *model.Env) ([]byte, error) {
	p, ok := planFor(pod, env)
	if !ok || p.empty() {
		return nil, nil
	}
	var ops []Operation
	for _, cp := range p.containers {
		base := fmt.Sprintf("/spec/%s/%d", cp.ref.field, cp.ref.index)
		ops = appendList(ops, base+"/env", cp.hadEnv, toAny(cp.env))
		if cp.mount {
			ops = appendList(ops, base+"/volumeMounts", cp.hadMount, []any{TokenVolumeMount()})
		}
	}
	if p.volume {
		ops = appendList(ops, "/spec/volumes", p.hadVolumes, []any{TokenVolume()})
	}
	out, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("failed to build the Pod Identity patch: %w", err)
	}
	return out, nil
}

// appendList adds items to the list at path: one "add" of the whole list when the list is absent
// or empty, otherwise an "add" at path/- for each item.
func appendList(ops []Operation, path string, exists bool, items []any) []Operation {
	if len(items) == 0 {
		return ops
	}
	if !exists {
		return append(ops, Operation{Op: "add", Path: path, Value: items})
	}
	for _, it := range items {
		ops = append(ops, Operation{Op: "add", Path: path + "/-", Value: it})
	}
	return ops
}

func toAny(env []corev1.EnvVar) []any {
	out := make([]any, len(env))
	for i, e := range env {
		out[i] = e
	}
	return out
}
