# One Rust Lambda: provided.al2023 on arm64 from a `cargo lambda build` zip, its log group
# with retention, and a role whose only permissions are the policy given plus its own logs.

terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  #checkov:skip=CKV_AWS_158:Logs hold no key material or tokens (tested); the default CloudWatch encryption applies.
}

data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
}

resource "aws_iam_role_policy" "logs" {
  name   = "logs"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.logs.json
}

resource "aws_iam_role_policy" "api" {
  name   = "api"
  role   = aws_iam_role.this.id
  policy = var.policy_json
}

resource "aws_lambda_function" "this" {
  function_name                  = var.name
  description                    = var.description
  role                           = aws_iam_role.this.arn
  runtime                        = "provided.al2023"
  architectures                  = ["arm64"]
  handler                        = "bootstrap"
  filename                       = var.zip_path
  source_code_hash               = filebase64sha256(var.zip_path)
  memory_size                    = var.memory_mb
  timeout                        = var.timeout_seconds
  reserved_concurrent_executions = var.reserved_concurrency
  environment {
    variables = var.environment
  }
  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.this.name
  }
  depends_on = [aws_iam_role_policy.logs]
  #checkov:skip=CKV_AWS_117:The functions call only public AWS APIs and CloudFront; a VPC would add NAT cost and no isolation.
  #checkov:skip=CKV_AWS_116:Both are invoked synchronously (Secrets Manager, function URL); a dead-letter queue only applies to asynchronous invocations.
  #checkov:skip=CKV_AWS_173:The environment holds names and ids, no secrets; the default Lambda encryption applies.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the operator owns; the zips are built from this repository.
  #checkov:skip=CKV_AWS_50:X-Ray tracing is optional observability; logs and alarms cover failures.
}
