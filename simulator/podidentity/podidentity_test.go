package podidentity_test

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"guardrail.dev/guardrail/compiler/load"
	"guardrail.dev/guardrail/compiler/model"
	"guardrail.dev/guardrail/simulator/podidentity"
)

const (
	fullURI   = "http://169.254.170.23/v1/credentials"
	tokenFile = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"
)

func loadEnv(t *testing.T, path string, data []byte) *model.Env {
	t.Helper()
	loaded, ds := load.Load([]load.Source{{Path: path, Data: data}})
	if errs := ds.Errors(false); len(errs) > 0 || len(loaded) != 1 {
		t.Fatalf("load %s: %v", path, errs)
	}
	return loaded[0].Env
}

func seedEnv(t *testing.T) *model.Env {
	t.Helper()
	data, err := os.ReadFile("../../environments/dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return loadEnv(t, "../../environments/dev.yaml", data)
}

// chainedEnv is the seed with more associations: target roles with and without session tags.
func chainedEnv(t *testing.T) *model.Env {
	t.Helper()
	data, err := os.ReadFile("../../environments/dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(data), "  podIdentities:\n", `  podIdentities:
  - namespace: loki
    serviceAccount: chained
    roleArn: "arn:aws:iam::123456789012:role/hop"
    targetRoleArn: "arn:aws:iam::210987654321:role/target"
    disableSessionTags: true
  - namespace: loki
    serviceAccount: tagged
    roleArn: "arn:aws:iam::123456789012:role/hop"
    targetRoleArn: "arn:aws:iam::210987654321:role/target"
  - namespace: loki
    serviceAccount: untagged
    roleArn: "arn:aws:iam::123456789012:role/quiet"
    disableSessionTags: true
`, 1)
	return loadEnv(t, "chained.yaml", []byte(s))
}

// assocID recomputes the documented simulated association ID.
func assocID(clusterARN, ns, sa string) string {
	sum := sha256.Sum256([]byte(clusterARN + "/" + ns + "/" + sa))
	return "a-" + strings.ToLower(base32.StdEncoding.EncodeToString(sum[:])[:17])
}

func TestFor(t *testing.T) {
	seed := seedEnv(t)
	chained := chainedEnv(t)
	const clusterARN = "arn:aws:eks:ap-northeast-2:123456789012:cluster/dev"
	wantEnv := map[string]string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     fullURI,
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile,
	}
	tags := func(ns, sa, pod, uid string) map[string]string {
		return map[string]string{
			"eks-cluster-arn":            clusterARN,
			"eks-cluster-name":           "dev",
			"kubernetes-namespace":       ns,
			"kubernetes-service-account": sa,
			"kubernetes-pod-name":        pod,
			"kubernetes-pod-uid":         uid,
		}
	}
	assocARN := func(ns, sa string) string {
		return "arn:aws:eks:ap-northeast-2:123456789012:podidentityassociation/dev/" + assocID(clusterARN, ns, sa)
	}
	tests := []struct {
		name    string
		env     *model.Env
		ns, sa  string
		want    podidentity.Credentials
		wantNot bool
	}{
		{
			name: "seed loki/loki gets the loki role with the six tags, not the association's tags",
			env:  seed, ns: "loki", sa: "loki",
			want: podidentity.Credentials{
				AssociationARN: assocARN("loki", "loki"),
				RoleARN:        "arn:aws:iam::123456789012:role/loki",
				SessionTags:    tags("loki", "loki", "loki-0", "uid-1"),
				Env:            wantEnv,
				CacheTTL:       6 * time.Hour,
			},
		},
		{name: "default/default has no association", env: seed, ns: "default", sa: "default", wantNot: true},
		{name: "loki/default has no association", env: seed, ns: "loki", sa: "default", wantNot: true},
		{name: "namespace and name are not swapped", env: seed, ns: "loki", sa: "Loki", wantNot: true},
		{
			name: "target role with session tags disabled gets the external ID",
			env:  chained, ns: "loki", sa: "chained",
			want: podidentity.Credentials{
				AssociationARN: assocARN("loki", "chained"),
				RoleARN:        "arn:aws:iam::123456789012:role/hop",
				TargetRoleARN:  "arn:aws:iam::210987654321:role/target",
				ExternalID:     "ap-northeast-2/123456789012/dev/loki/chained",
				Env:            wantEnv,
				CacheTTL:       59 * time.Minute,
			},
		},
		{
			name: "target role with session tags: tags, no external ID",
			env:  chained, ns: "loki", sa: "tagged",
			want: podidentity.Credentials{
				AssociationARN: assocARN("loki", "tagged"),
				RoleARN:        "arn:aws:iam::123456789012:role/hop",
				TargetRoleARN:  "arn:aws:iam::210987654321:role/target",
				SessionTags:    tags("loki", "tagged", "loki-0", "uid-1"),
				Env:            wantEnv,
				CacheTTL:       59 * time.Minute,
			},
		},
		{
			name: "session tags disabled without target role: no tags, no external ID",
			env:  chained, ns: "loki", sa: "untagged",
			want: podidentity.Credentials{
				AssociationARN: assocARN("loki", "untagged"),
				RoleARN:        "arn:aws:iam::123456789012:role/quiet",
				Env:            wantEnv,
				CacheTTL:       6 * time.Hour,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := podidentity.For(tc.env, tc.ns, tc.sa, "loki-0", "uid-1")
			if ok == tc.wantNot {
				t.Fatalf("For(%s/%s) ok = %v, want %v", tc.ns, tc.sa, ok, !tc.wantNot)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("For(%s/%s) =\n%+v\nwant\n%+v", tc.ns, tc.sa, got, tc.want)
			}
		})
	}
}

func TestAssociationID(t *testing.T) {
	env := seedEnv(t)
	id := podidentity.AssociationID(env, "loki", "loki")
	if len(id) != 19 || !strings.HasPrefix(id, "a-") || strings.Trim(id[2:], "abcdefghijklmnopqrstuvwxyz234567") != "" {
		t.Errorf("AssociationID = %q, want a- and 17 characters of [a-z2-7]", id)
	}
	if id == podidentity.AssociationID(env, "loki", "other") {
		t.Error("two service accounts share an association ID")
	}
	if id != podidentity.AssociationID(env, "loki", "loki") {
		t.Error("AssociationID is not stable")
	}
}

func container(name string, env ...corev1.EnvVar) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox", Env: env}
}

var metaPod = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}

func objectMeta(ns string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: "p", Namespace: ns} }

func pod(ns, sa string, cs ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metaPod,
		ObjectMeta: objectMeta(ns),
		Spec:       corev1.PodSpec{ServiceAccountName: sa, Containers: cs},
	}
}

// The expected volume, mount and variables, written out from the EKS User Guide.
var (
	wantVolume = corev1.Volume{
		Name: "eks-pod-identity-token",
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience: "pods.eks.amazonaws.com", ExpirationSeconds: int64p(86400), Path: "eks-pod-identity-token",
			}}},
			DefaultMode: int32p(420),
		}},
	}
	wantMount = corev1.VolumeMount{Name: "eks-pod-identity-token", MountPath: "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount", ReadOnly: true}
	wantURI   = corev1.EnvVar{Name: "AWS_CONTAINER_CREDENTIALS_FULL_URI", Value: fullURI}
	wantToken = corev1.EnvVar{Name: "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", Value: tokenFile}
)

func int64p(v int64) *int64 { return &v }
func int32p(v int32) *int32 { return &v }

func TestMutate(t *testing.T) {
	env := seedEnv(t)
	own := corev1.EnvVar{Name: "AWS_CONTAINER_CREDENTIALS_FULL_URI", Value: "http://127.0.0.1:9911/creds"}
	other := corev1.EnvVar{Name: "LOG_LEVEL", Value: "debug"}

	tests := []struct {
		name    string
		pod     *corev1.Pod
		changed bool
		want    func(p *corev1.Pod) // the expected pod, from a copy of the input
	}{
		{
			name:    "loki/loki: both variables, the volume and its mount",
			pod:     pod("loki", "loki", container("app", other)),
			changed: true,
			want: func(p *corev1.Pod) {
				c := &p.Spec.Containers[0]
				c.Env = []corev1.EnvVar{other, wantURI, wantToken}
				c.VolumeMounts = []corev1.VolumeMount{wantMount}
				p.Spec.Volumes = []corev1.Volume{wantVolume}
			},
		},
		{
			name:    "a container's own AWS_CONTAINER_CREDENTIALS_FULL_URI is kept; init containers too",
			pod:     withInit(pod("loki", "loki", container("app", own), container("sidecar")), container("init")),
			changed: true,
			want: func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{own, wantToken}
				p.Spec.Containers[1].Env = []corev1.EnvVar{wantURI, wantToken}
				p.Spec.InitContainers[0].Env = []corev1.EnvVar{wantURI, wantToken}
				for _, c := range []*corev1.Container{&p.Spec.Containers[0], &p.Spec.Containers[1], &p.Spec.InitContainers[0]} {
					c.VolumeMounts = []corev1.VolumeMount{wantMount}
				}
				p.Spec.Volumes = []corev1.Volume{wantVolume}
			},
		},
		{
			name:    "no association for default/default",
			pod:     pod("default", "", container("app")),
			changed: false,
			want:    func(*corev1.Pod) {},
		},
		{
			name:    "no association for loki/default (empty serviceAccountName)",
			pod:     pod("loki", "", container("app")),
			changed: false,
			want:    func(*corev1.Pod) {},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.pod.DeepCopy()
			tc.want(want)
			got := tc.pod.DeepCopy()
			if changed := podidentity.Mutate(got, env); changed != tc.changed {
				t.Errorf("Mutate changed = %v, want %v", changed, tc.changed)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Mutate:\n got %s\nwant %s", js(t, got), js(t, want))
			}
			again := got.DeepCopy()
			if podidentity.Mutate(again, env) {
				t.Error("second Mutate reported a change")
			}
			if !reflect.DeepEqual(again, got) {
				t.Errorf("second Mutate changed the pod:\n%s", js(t, again))
			}

			// Patch describes the same change, and leaves its input alone.
			in := tc.pod.DeepCopy()
			patch, err := podidentity.Patch(in, env)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in, tc.pod) {
				t.Error("Patch modified its input")
			}
			if !tc.changed {
				if patch != nil {
					t.Errorf("Patch = %s, want nil", patch)
				}
				return
			}
			if p, err := podidentity.Patch(got, env); err != nil || p != nil {
				t.Errorf("Patch of the mutated pod = %s, %v; want nil", p, err)
			}
			applied := applyPatch(t, tc.pod, patch)
			if !reflect.DeepEqual(applied, want) {
				t.Errorf("pod after Patch:\n got %s\nwant %s\npatch %s", js(t, applied), js(t, want), patch)
			}
		})
	}
}

func TestPatchExact(t *testing.T) {
	env := seedEnv(t)
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{
			name: "pod without env, mounts or volumes",
			pod:  pod("loki", "loki", container("app")),
			want: `[` +
				`{"op":"add","path":"/spec/containers/0/env","value":[` +
				`{"name":"AWS_CONTAINER_CREDENTIALS_FULL_URI","value":"http://169.254.170.23/v1/credentials"},` +
				`{"name":"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE","value":"/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"}]},` +
				`{"op":"add","path":"/spec/containers/0/volumeMounts","value":[` +
				`{"name":"eks-pod-identity-token","readOnly":true,"mountPath":"/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"}]},` +
				`{"op":"add","path":"/spec/volumes","value":[` +
				`{"name":"eks-pod-identity-token","projected":{"sources":[{"serviceAccountToken":{"audience":"pods.eks.amazonaws.com","expirationSeconds":86400,"path":"eks-pod-identity-token"}}],"defaultMode":420}}]}` +
				`]`,
		},
		{
			name: "pod with env, a mount and a volume appends",
			pod: func() *corev1.Pod {
				p := pod("loki", "loki", container("app", corev1.EnvVar{Name: "A", Value: "1"}))
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
				p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
				return p
			}(),
			want: `[` +
				`{"op":"add","path":"/spec/containers/0/env/-","value":{"name":"AWS_CONTAINER_CREDENTIALS_FULL_URI","value":"http://169.254.170.23/v1/credentials"}},` +
				`{"op":"add","path":"/spec/containers/0/env/-","value":{"name":"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE","value":"/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"}},` +
				`{"op":"add","path":"/spec/containers/0/volumeMounts/-","value":{"name":"eks-pod-identity-token","readOnly":true,"mountPath":"/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"}},` +
				`{"op":"add","path":"/spec/volumes/-","value":{"name":"eks-pod-identity-token","projected":{"sources":[{"serviceAccountToken":{"audience":"pods.eks.amazonaws.com","expirationSeconds":86400,"path":"eks-pod-identity-token"}}],"defaultMode":420}}}` +
				`]`,
		},
		{
			name: "only what is missing",
			pod: func() *corev1.Pod {
				p := withInit(pod("loki", "loki", container("app", wantURI, wantToken)), container("init", wantToken))
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{wantMount}
				p.Spec.InitContainers[0].VolumeMounts = []corev1.VolumeMount{wantMount}
				p.Spec.Volumes = []corev1.Volume{wantVolume}
				return p
			}(),
			want: `[{"op":"add","path":"/spec/initContainers/0/env/-","value":{"name":"AWS_CONTAINER_CREDENTIALS_FULL_URI","value":"http://169.254.170.23/v1/credentials"}}]`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := podidentity.Patch(tc.pod, env)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("Patch =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func withInit(p *corev1.Pod, cs ...corev1.Container) *corev1.Pod {
	p.Spec.InitContainers = cs
	return p
}

func applyPatch(t *testing.T, p *corev1.Pod, patch []byte) *corev1.Pod {
	t.Helper()
	doc, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatalf("decode patch %s: %v", patch, err)
	}
	out, err := ops.Apply(doc)
	if err != nil {
		t.Fatalf("apply patch %s: %v", patch, err)
	}
	var res corev1.Pod
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return &res
}

func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
