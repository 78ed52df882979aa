# Least privilege: each function gets exactly the API calls its adapters make (the table in
# rotator/src/sdk.rs and endpoint/src/wiring.rs; tests/infra holds these policies to it).

data "aws_iam_policy_document" "rotator" {
  statement {
    sid = "TheOneSecret"
    actions = [
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue",
      "secretsmanager:ListSecretVersionIds",
      "secretsmanager:PutSecretValue",
      "secretsmanager:UpdateSecretVersionStage",
    ]
    resources = [aws_secretsmanager_secret.signing_key.arn]
  }
  statement {
    # CloudFront public keys and key groups have no ARNs, so these actions take no
    # resource-level permissions: "*" is the narrowest scope IAM offers.
    sid = "CloudFrontKeys"
    actions = [
      "cloudfront:CreatePublicKey",
      "cloudfront:ListPublicKeys",
      "cloudfront:GetPublicKey",
      "cloudfront:DeletePublicKey",
      "cloudfront:GetKeyGroup",
      "cloudfront:UpdateKeyGroup",
    ]
    resources = ["*"]
  }
  statement {
    # Every parameter named in CFCOOKIE_KEY_ID_PARAMETER, from the same list (locals.tf).
    sid       = "KeyIdParameter"
    actions   = ["ssm:GetParameter", "ssm:PutParameter"]
    resources = local.key_id_parameter_arns
  }
}

data "aws_iam_policy_document" "endpoint" {
  statement {
    sid       = "ReadTheKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.signing_key.arn]
  }
  statement {
    sid       = "ReadTheResource"
    actions   = ["ssm:GetParameter"]
    resources = [local.resource_parameter_arn]
  }
}
