package identity

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// RoleID is the simulated unique ID of an IAM role: "AROA" and 17 characters of the base32
// alphabet (A-Z, 2-7), 21 in all like a real role ID, taken from the SHA-256 of the role's ARN
// with its path removed and in lower case, so every spelling of one role gives the same ID. The
// real ID is assigned by IAM when the role is created and cannot be known offline.
func RoleID(roleARN string) string {
	return "AROA" + hashChars(canonicalRoleKey(roleARN), 17)
}

// AccessKeyID is the simulated access key ID of a role session's temporary credentials:
// "ASIA" and 16 base32 characters, 20 in all like a real one, taken from the SHA-256 of the STS
// session ARN. Real keys change with every session; this one is stable so output is byte-stable.
func AccessKeyID(sessionARN string) string {
	return "ASIA" + hashChars(sessionARN, 16)
}

func hashChars(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return base32.StdEncoding.EncodeToString(sum[:])[:n]
}

// canonicalRoleKey turns arn:P:iam::A:role/PATH/NAME into arn:p:iam::a:role/name.
func canonicalRoleKey(a string) string {
	if i := strings.Index(a, ":role/"); i >= 0 {
		a = a[:i+len(":role/")] + a[strings.LastIndex(a, "/")+1:]
	}
	return strings.ToLower(a)
}
