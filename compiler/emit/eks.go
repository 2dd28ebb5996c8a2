package emit

import (
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"

	"guardrail.dev/guardrail/compiler/model"
)

// AccessEntries returns one CreateAccessEntry request per permission set mapped through an
// access entry, sorted by principal ARN; nil when there is none.
func AccessEntries(env *model.Env) []eks.CreateAccessEntryInput {
	var out []eks.CreateAccessEntryInput
	for _, ps := range env.PermissionSets {
		if ps.AccessEntry == nil || ps.Via != model.ViaAccessEntry {
			continue
		}
		in := eks.CreateAccessEntryInput{
			ClusterName:      aws.String(env.Cluster),
			PrincipalArn:     aws.String(ps.RoleARN),
			Type:             aws.String("STANDARD"),
			KubernetesGroups: ps.AccessEntry.Groups,
		}
		if ps.AccessEntry.Username != "" {
			in.Username = aws.String(ps.AccessEntry.Username)
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return *out[i].PrincipalArn < *out[j].PrincipalArn })
	return out
}

// AccessPolicyAssociations returns one AssociateAccessPolicy request per policy and entry,
// sorted by principal ARN, then policy ARN.
func AccessPolicyAssociations(env *model.Env) []eks.AssociateAccessPolicyInput {
	var out []eks.AssociateAccessPolicyInput
	for _, ps := range env.PermissionSets {
		if ps.AccessEntry == nil || ps.Via != model.ViaAccessEntry {
			continue
		}
		for _, ap := range ps.AccessEntry.AccessPolicies {
			scope := &types.AccessScope{Type: types.AccessScopeTypeCluster}
			if !ap.Cluster {
				scope = &types.AccessScope{Type: types.AccessScopeTypeNamespace, Namespaces: ap.Namespaces}
			}
			out = append(out, eks.AssociateAccessPolicyInput{
				ClusterName:  aws.String(env.Cluster),
				PrincipalArn: aws.String(ps.RoleARN),
				PolicyArn:    aws.String(ap.ARN),
				AccessScope:  scope,
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if *out[i].PrincipalArn != *out[j].PrincipalArn {
			return *out[i].PrincipalArn < *out[j].PrincipalArn
		}
		return *out[i].PolicyArn < *out[j].PolicyArn
	})
	return out
}

// PodIdentityAssociations returns one CreatePodIdentityAssociation request per binding, sorted
// by namespace and service account.
func PodIdentityAssociations(env *model.Env) []eks.CreatePodIdentityAssociationInput {
	var out []eks.CreatePodIdentityAssociationInput
	for _, pi := range env.PodIdentities {
		in := eks.CreatePodIdentityAssociationInput{
			ClusterName:    aws.String(env.Cluster),
			Namespace:      aws.String(pi.Namespace),
			ServiceAccount: aws.String(pi.ServiceAccount),
			RoleArn:        aws.String(pi.RoleARN),
			Tags:           pi.Tags,
		}
		if pi.TargetRoleARN != "" {
			in.TargetRoleArn = aws.String(pi.TargetRoleARN)
		}
		if pi.DisableSessionTags {
			in.DisableSessionTags = aws.Bool(true)
		}
		out = append(out, in)
	}
	return out
}

// AWSAuth returns the kube-system/aws-auth ConfigMap with a mapRoles row per permission set
// mapped that way (rolearn without the role path, as aws-iam-authenticator matches it), or nil.
func AWSAuth(env *model.Env) object {
	type row struct {
		RoleARN  string   `json:"rolearn"`
		Username string   `json:"username"`
		Groups   []string `json:"groups,omitempty"`
	}
	var rows []row
	for _, ps := range env.PermissionSets {
		if ps.AWSAuth == nil || (ps.Via != model.ViaAWSAuth && !ps.ShadowedRow) {
			continue
		}
		rows = append(rows, row{RoleARN: ps.CanonicalARN, Username: ps.AWSAuth.Username, Groups: ps.AWSAuth.Groups})
	}
	if len(rows) == 0 {
		return nil
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].RoleARN < rows[j].RoleARN })
	mapRoles, err := marshalYAML(rows)
	if err != nil {
		panic(err) // a slice of plain structs always encodes
	}
	return object{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata":   meta(env, "aws-auth", "kube-system"),
		"data":       object{"mapRoles": string(mapRoles)},
	}
}
