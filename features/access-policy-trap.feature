@prod @trap
Feature: a guardrail written with clusterRoles misses an admin whose power is an EKS access policy
  grace.hopper is a cluster admin of prod through AmazonEKSClusterAdminPolicy, an EKS access
  policy. Access policies are not RBAC bindings, so Kyverno computes no cluster-admin role for
  her, and the guardrail no-cluster-admin-in-payments (clusterRoles: [cluster-admin]) never
  applies. guardrail validate warns about it; these scenarios prove it.

  Background:
    Given the environment "prod"

  Scenario: the admin's power comes from the access policy
    Given I am "grace.hopper@example.com" using permission set "Platform_Admin"
    When I delete configmap "ledger" in namespace "payments"
    Then it is allowed by access policy "AmazonEKSClusterAdminPolicy"
    And policy "guardrail-no-cluster-admin-in-payments" does not apply

  Scenario: the same person through system:masters would have been stopped
    Given I am the Kubernetes user "platform:grace.hopper-example.com" in groups "system:masters"
    When I delete configmap "ledger" in namespace "payments"
    Then it is denied by policy "guardrail-no-cluster-admin-in-payments"
