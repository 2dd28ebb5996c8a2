@seed @podidentity
Feature: loki gets AWS credentials through EKS Pod Identity

  Background:
    Given the environment "dev"

  Scenario: loki/loki gets the loki role with EKS session tags
    Then a pod using service account "loki/loki" gets credentials for role "arn:aws:iam::123456789012:role/loki"
    And the pod's environment has "AWS_CONTAINER_CREDENTIALS_FULL_URI" set to "http://169.254.170.23/v1/credentials"
    And the pod's environment has "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" set to "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"
    And the pod's session tags are:
      | eks-cluster-arn            | arn:aws:eks:ap-northeast-2:123456789012:cluster/dev |
      | eks-cluster-name           | dev                                                  |
      | kubernetes-namespace       | loki                                                 |
      | kubernetes-service-account | loki                                                 |
      | kubernetes-pod-name        | *                                                    |
      | kubernetes-pod-uid         | *                                                    |

  Scenario: the default service account of loki gets no AWS credentials
    Then a pod using service account "loki/default" gets no AWS credentials

  Scenario: default/default gets no AWS credentials
    Then a pod using service account "default/default" gets no AWS credentials
