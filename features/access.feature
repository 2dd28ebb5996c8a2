@seed @rbac
Feature: what the dev cluster's RBAC and EKS access policies allow

  Background:
    Given the environment "dev"

  Scenario: the payments team edits its namespace through its RoleBinding
    Given I am "alice@example.com" using permission set "Developer"
    When I create configmap "prices" in namespace "app-payments"
    Then it is allowed by RBAC

  Scenario: the payments team cannot touch another namespace
    Given I am "alice@example.com" using permission set "Developer"
    When I create configmap "prices" in namespace "loki"
    Then it is denied by RBAC
    And the message contains "cannot create resource"

  Scenario: secrets come from the team's edit binding, never from AmazonEKSViewPolicy
    Given I am "alice@example.com" using permission set "Developer"
    When I get secrets "db" in namespace "app-payments"
    Then it is allowed by RBAC
    When I list pods in namespace "app-other"
    Then it is allowed by access policy "AmazonEKSViewPolicy"
    When I list secrets in namespace "app-other"
    Then it is denied by RBAC

  Scenario: a namespace-scoped access policy covers a namespace the team does not own
    Given I am "alice@example.com" using permission set "Developer"
    When I list deployments.apps in namespace "app-other"
    Then it is allowed by access policy "AmazonEKSViewPolicy"

  Scenario: a developer cannot exec into pods outside app-*
    Given I am "alice@example.com" using permission set "Developer"
    When I create pods/exec "web" in namespace "default"
    Then it is denied by RBAC

  Scenario: everyone authenticated may read the version
    Given I am "alice@example.com" using permission set "Developer"
    When I send GET /version
    Then it is allowed
    When I send GET /metrics
    Then it is denied by RBAC

  Scenario: a service account has only what is bound to it
    Given I am the service account "loki/loki"
    Then my username is "system:serviceaccount:loki:loki"
    When I list configmaps in namespace "loki"
    Then it is denied by RBAC

  Scenario: Kyverno's default filters leave kube-system alone
    Given I am "elon.musk@example.com" using permission set "Cell_Infra_Admin"
    When I create configmap "settings" in namespace "kube-system"
    Then it is allowed
