package local

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"guardrail.dev/guardrail/simulator/backend/live"
	"guardrail.dev/guardrail/simulator/webhook"
)

// TestIntegrationPostThroughServiceProxy sends an AdmissionReview to a webhook that has no URL,
// only a service (as Kyverno's are when it runs in the cluster: kind, EKS), through the real
// API server's service proxy, and reads the webhook's denial back. The webhook is a test
// server behind a selector-less Service whose Endpoints name it; the API server's proxy does
// not dial loopback addresses, so it listens on this machine's first other IPv4 address.
func TestIntegrationPostThroughServiceProxy(t *testing.T) {
	requireBinaries(t)
	ip := hostIP(t)
	var got admissionv1.AdmissionReview
	srv, err := webhook.ServeHandler(ip, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/validate/fail" {
			http.NotFound(w, r)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil || got.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(admissionv1.AdmissionReview{
			TypeMeta: got.TypeMeta,
			Response: &admissionv1.AdmissionResponse{UID: got.Request.UID, Allowed: false, Result: &metav1.Status{Message: "policy p: denied through the proxy"}},
		})
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_, portText, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cp, err := Start(ctx, Options{Logs: testLogs()})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	rc := cp.RESTConfig()
	rc.WarningHandler = rest.NoWarnings{} // v1 Endpoints is deprecated, and what the proxy reads
	admin, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	const ns, name = "webhooks", "fake-kyverno-svc"
	port := mustAtoi(t, portText)
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(port)}}},
	}
	if _, err := admin.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The proxy only dials addresses of pods: a pod (never scheduled: there is no kubelet) whose
	// status says it has this machine's address.
	pod, err := admin.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "fake-kyverno", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.PodIP, pod.Status.PodIPs = ip.String(), []corev1.PodIP{{IP: ip.String()}}
	if _, err := admin.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// core/v1 Endpoints is what the API server's service proxy resolves.
	eps := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: ip.String(), TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name}}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: port}},
		}},
	}
	if _, err := admin.CoreV1().Endpoints(ns).Create(ctx, eps, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	review, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &admissionv1.AdmissionRequest{UID: "u-1", Operation: admissionv1.Create, Namespace: "team", Name: "cm"},
	})
	path, svcPort := "/validate/fail", int32(443)
	cc := admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: ns, Name: name, Path: &path, Port: &svcPort}}
	msg, denied, err := live.Post(ctx, admin, cc, review)
	if err != nil {
		t.Fatalf("Post through the service proxy: %v", err)
	}
	if !denied || msg != "policy p: denied through the proxy" {
		t.Errorf("Post = %q, denied %v; want the webhook's denial", msg, denied)
	}
	if got.Request == nil || got.Request.UID != "u-1" || got.Request.Name != "cm" {
		t.Errorf("the webhook received %+v, want the review that was sent", got.Request)
	}
}

// hostIP is an IPv4 address of this machine other than loopback and link-local.
func hostIP(t *testing.T) net.IP {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip := n.IP.To4(); ip != nil && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
				return ip
			}
		}
	}
	t.Skip("skipping: this machine has no IPv4 address besides loopback, which the API server's proxy does not dial")
	return nil
}

func mustAtoi(t *testing.T, s string) int32 {
	t.Helper()
	var n int32
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("port %q", s)
		}
		n = n*10 + int32(c-'0')
	}
	return n
}
