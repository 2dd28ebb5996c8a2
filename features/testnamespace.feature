@seed @guardrail
Feature: elon.musk cannot change anything in testnamespace
  The seed: two SSO admins reach the dev cluster through aws-auth with system:masters.
  One of them, elon.musk, is fenced out of testnamespace twice: by the guardrail the
  compiler generates from environments/dev.yaml, and by the hand-written library policy
  policies/block-cluster-admin-from-ns.yaml.

  Background:
    Given the environment "dev"

  Scenario Outline: elon cannot <operation> in testnamespace
    Given I am "elon.musk@example.com" using permission set "Cell_Infra_Admin"
    When I <verb> configmap "settings" in namespace "testnamespace"
    Then it is denied by policy "guardrail-elon-cannot-touch-testnamespace"
    And it is denied by policy "block-cluster-admin-from-ns" rule "block-cluster-admin-from-ns"
    And the message contains "may not change anything in testnamespace"

    Examples:
      | operation | verb   |
      | CREATE    | create |
      | UPDATE    | update |
      | DELETE    | delete |

  Scenario: elon cannot delete testnamespace itself
    Given I am "elon.musk@example.com" using permission set "Cell_Infra_Admin"
    When I delete namespace "testnamespace"
    Then it is denied by policy "guardrail-elon-cannot-touch-testnamespace"

  Scenario: elon cannot create a pod from a manifest in testnamespace
    Given I am "elon.musk@example.com" using permission set "Cell_Infra_Admin"
    When I create this in namespace "testnamespace":
      """
      apiVersion: v1
      kind: Pod
      metadata:
        name: debug
      spec:
        containers:
        - name: shell
          image: busybox
      """
    Then it is denied by policy "guardrail-elon-cannot-touch-testnamespace"

  Scenario Outline: elon can still <verb> in another namespace
    Given I am "elon.musk@example.com" using permission set "Cell_Infra_Admin"
    When I <verb> configmap "settings" in namespace "loki"
    Then it is allowed by system:masters

    Examples:
      | verb   |
      | create |
      | update |
      | delete |

  Scenario: elon can still create cluster-scoped objects
    Given I am "elon.musk@example.com" using permission set "Cell_Infra_Admin"
    When I create clusterrole "reader"
    Then it is allowed
    And policy "guardrail-elon-cannot-touch-testnamespace" does not apply

  Scenario: elon cannot recreate testnamespace either
    Given I am "elon.musk@example.com" using permission set "Cell_Infra_Admin"
    When I create namespace "testnamespace"
    Then it is denied by policy "guardrail-elon-cannot-touch-testnamespace"

  Scenario: elon can still read testnamespace
    Given I am "elon.musk@example.com" using permission set "Cell_Infra_Admin"
    When I list configmaps in namespace "testnamespace"
    Then it is allowed

  Scenario Outline: john.doe can <verb> in testnamespace
    Given I am "john.doe@example.com" using permission set "DevOps_Admin"
    When I <verb> configmap "settings" in namespace "testnamespace"
    Then it is allowed
    And policy "guardrail-elon-cannot-touch-testnamespace" does not apply

    Examples:
      | verb   |
      | create |
      | update |
      | delete |
