package authz_test

import (
	"context"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/kubernetes/pkg/controller/clusterroleaggregation"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac/bootstrappolicy"

	"guardrail.dev/guardrail/simulator/authz"
)

// TestAggregationMatchesUpstreamController runs kube-controller-manager's clusterrole-aggregation
// controller against a fake API server holding the bootstrap and fixture ClusterRoles, and checks that
// every aggregated ClusterRole ends with exactly the rules, in the same order, that New computed.
func TestAggregationMatchesUpstreamController(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the upstream controller")
	}
	objs, associations := fixture()
	a, err := authz.New(objs, associations)
	if err != nil {
		t.Fatal(err)
	}
	ours := authz.ClusterRoles(a)

	var seed []runtime.Object
	for _, cr := range append(append(bootstrappolicy.ClusterRoles(), bootstrappolicy.ControllerRoles()...), objs.ClusterRoles...) {
		seed = append(seed, cr.DeepCopy())
	}
	client := fake.NewClientset(seed...)
	factory := informers.NewSharedInformerFactory(client, 0)
	controller := clusterroleaggregation.NewClusterRoleAggregation(factory.Rbac().V1().ClusterRoles(), client.RbacV1())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	go controller.Run(ctx, 1)

	var aggregated []string
	for name, cr := range ours {
		if cr.AggregationRule != nil {
			aggregated = append(aggregated, name)
		}
	}
	if len(aggregated) < 4 {
		t.Fatalf("only %d aggregated ClusterRoles: %v", len(aggregated), aggregated)
	}
	for _, name := range []string{"admin", "edit", "view", "monitoring"} {
		if len(ours[name].Rules) == 0 {
			t.Fatalf("ClusterRole %s has no rules after aggregation", name)
		}
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		var mismatched []string
		var last *rbacv1.ClusterRole
		for _, name := range aggregated {
			got, err := client.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(got.Rules, ours[name].Rules) {
				mismatched = append(mismatched, name)
				last = got
			}
		}
		if len(mismatched) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("aggregated ClusterRoles differ from the controller's: %v\n%s controller: %v\n%s ours: %v",
				mismatched, last.Name, last.Rules, last.Name, ours[last.Name].Rules)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
