@prod @guardrail
Feature: prod teams and their guardrails
  An API-only cluster: access entries, namespace-scoped access policies, team RoleBindings,
  and guardrails about a team and a group.

  Background:
    Given the environment "prod"

  Scenario Outline: the shop team cannot <verb> in payments
    Given I am "<person>" using permission set "Developer"
    When I <verb> configmap "rates" in namespace "payments"
    Then it is denied

    Examples:
      | person            | verb   |
      | alice@example.com | create |
      | bob@example.com   | update |
      | bob@example.com   | delete |

  Scenario: the shop team may read payments through its access policy
    Given I am "alice@example.com" using permission set "Developer"
    When I list configmaps in namespace "payments"
    Then it is allowed by access policy "AmazonEKSViewPolicy"

  Scenario: had a shop member write access to payments, the team guardrail would stop them
    Given I am the Kubernetes user "dev:alice-example.com" in groups "developers, system:masters"
    When I create configmap "rates" in namespace "payments"
    Then it is denied by policy "guardrail-shop-stays-out-of-payments"
    And the message contains "Only the payments team changes the payments namespace."

  Scenario: the payments team edits payments
    Given I am "carol@example.com" using permission set "Developer"
    When I update configmap "rates" in namespace "payments"
    Then it is allowed by RBAC

  Scenario: an audit-only guardrail reports but does not deny
    Given I am "alice@example.com" using permission set "Developer"
    When I delete secret "tls" in namespace "shop-backend"
    Then it is allowed

  Scenario: auditors read everything, secrets included, and change nothing
    Given I am "dave@example.com" using permission set "ReadOnly"
    Then my username is "arn:aws:sts::210987654321:assumed-role/AWSReservedSSO_ReadOnly_0011223344556677/dave-example.com"
    When I get secrets "tls" in namespace "shop-backend"
    Then it is allowed by access policy "AmazonEKSAdminViewPolicy"
    When I delete configmap "x" in namespace "shop-backend"
    Then it is denied by RBAC

  Scenario: the ledger service account chains to a role in another account
    Then a pod using service account "payments/ledger" gets credentials for role "arn:aws:iam::210987654321:role/payments-ledger" and target role "arn:aws:iam::333344445555:role/ledger-data"
