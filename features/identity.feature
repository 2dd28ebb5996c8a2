@seed @identity
Feature: who the dev cluster thinks I am
  EKS maps an Identity Center session to a Kubernetes identity: through the aws-auth
  mapRoles row (path-less role ARN) or the access entry (role ARN with its path), with
  {{SessionName}} turning every @ into -.

  Background:
    Given the environment "dev"

  Scenario: john.doe's whoami is the seed's SelfSubjectReview
    Given I am "john.doe@example.com" using permission set "DevOps_Admin"
    Then my username is "devops-john.doe-example.com"
    And my groups are "system:masters, system:authenticated"
    And my whoami is:
      """
      apiVersion: authentication.k8s.io/v1
      kind: SelfSubjectReview
      status:
        userInfo:
          username: devops-john.doe-example.com
          groups:
          - system:masters
          - system:authenticated
          extra:
            arn:
            - arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_DevOps_Admin_1234abcd/john.doe@example.com
            canonicalArn:
            - arn:aws:iam::123456789012:role/AWSReservedSSO_DevOps_Admin_1234abcd
            sessionName:
            - john.doe@example.com
      """

  Scenario: elon.musk's username comes from the Cell_Infra_Admin row
    Given I am "elon.musk@example.com" using permission set "Cell_Infra_Admin"
    Then my username is "cell-infra-elon.musk-example.com"
    And my groups include "system:masters"

  Scenario: a developer reaches the cluster through an access entry
    Given I am "alice@example.com" using permission set "Developer"
    Then my username is "dev:alice-example.com"
    And my groups are "developers, system:authenticated"

  Scenario: the SSO role given as an IAM role with a session name maps the same way
    Given I am the IAM role "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/ap-northeast-2/AWSReservedSSO_DevOps_Admin_1234abcd" with session "jane@example.com"
    Then my username is "devops-jane-example.com"

  Scenario: a role the cluster does not know is refused at authentication
    Given I am an unknown principal "arn:aws:iam::123456789012:role/intruder"
    When I list pods in namespace "default"
    Then it is denied at authentication

  Scenario: an IAM user is refused at authentication
    Given I am the IAM user "arn:aws:iam::123456789012:user/bob"
    When I get namespaces
    Then it is denied at authentication
