package identity

import (
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// SelfSubjectReview returns what `kubectl auth whoami -o yaml` prints for the identity: an
// authentication.k8s.io/v1 SelfSubjectReview whose status.userInfo is the identity, keys sorted
// as kubectl prints them. The API server's metadata.creationTimestamp is left out, so the bytes
// depend on the identity only.
func SelfSubjectReview(id *Identity) ([]byte, error) {
	if id == nil {
		return nil, fmt.Errorf("failed to render SelfSubjectReview: no identity")
	}
	review := authenticationv1.SelfSubjectReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "SelfSubjectReview"},
		Status: authenticationv1.SelfSubjectReviewStatus{
			UserInfo: authenticationv1.UserInfo{
				Username: id.Username,
				UID:      id.UID,
				Groups:   id.Groups,
			},
		},
	}
	if len(id.Extra) > 0 {
		review.Status.UserInfo.Extra = map[string]authenticationv1.ExtraValue{}
		for k, v := range id.Extra {
			review.Status.UserInfo.Extra[k] = authenticationv1.ExtraValue(v)
		}
	}
	out, err := yaml.Marshal(review)
	if err != nil {
		return nil, fmt.Errorf("failed to render SelfSubjectReview: %w", err)
	}
	return out, nil
}
