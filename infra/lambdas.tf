module "rotator" {
  source             = "./modules/rust_lambda"
  name               = "${var.name_prefix}-cfcookie-rotator"
  description        = "Rotates the CloudFront signing key in ${aws_secretsmanager_secret.signing_key.name}"
  zip_path           = var.rotator_zip
  policy_json        = data.aws_iam_policy_document.rotator.json
  timeout_seconds    = 120 # testSecret's canary retries with backoff
  memory_mb          = 256
  log_retention_days = var.log_retention_days
  environment = {
    CFCOOKIE_KEY_GROUP_ID     = aws_cloudfront_key_group.signers.id
    CFCOOKIE_KEY_ID_PARAMETER = aws_ssm_parameter.key_id.name
    CFCOOKIE_KEY_NAME_PREFIX  = local.key_name_prefix
    CFCOOKIE_ACTIVATION_DELAY = tostring(var.activation_delay_seconds)
    CFCOOKIE_COOKIE_LIFETIME  = tostring(var.cookie_lifetime_seconds)
    CFCOOKIE_KEY_CACHE_TTL    = tostring(var.key_cache_ttl_seconds)
    CFCOOKIE_KEY_ALGORITHM    = var.key_algorithm
    RUST_LOG                  = "info"
  }
}

resource "aws_lambda_permission" "secrets_manager_invokes_rotator" {
  statement_id   = "SecretsManagerRotation"
  action         = "lambda:InvokeFunction"
  function_name  = module.rotator.function_name
  principal      = "secretsmanager.amazonaws.com"
  source_account = local.account_id
}

# The distribution's domain, for the endpoint's resource template (see CFCOOKIE_RESOURCE_PARAMETER).
resource "aws_ssm_parameter" "resource" {
  #checkov:skip=CKV2_AWS_34:The resource pattern is the public media URL; nothing secret.
  name        = local.resource_parameter
  description = "Resource pattern of the cookies the endpoint issues"
  type        = "String"
  value       = "https://${local.media_domain}/*"
}

module "endpoint" {
  source             = "./modules/rust_lambda"
  name               = "${var.name_prefix}-cfcookie-endpoint"
  description        = "GET /cookie and /cookie/remove behind ${var.name_prefix}'s distribution"
  zip_path           = var.endpoint_zip
  policy_json        = data.aws_iam_policy_document.endpoint.json
  timeout_seconds    = 10
  memory_mb          = 512
  log_retention_days = var.log_retention_days
  environment = merge(
    {
      CFCOOKIE_SECRET_ID          = aws_secretsmanager_secret.signing_key.arn
      CFCOOKIE_USER_POOL_ID       = local.user_pool_id
      CFCOOKIE_CLIENT_IDS         = join(",", local.client_ids)
      CFCOOKIE_TOKEN_HEADER       = var.token_header
      CFCOOKIE_RESOURCE_PARAMETER = local.resource_parameter
      CFCOOKIE_COOKIE_LIFETIME    = tostring(var.cookie_lifetime_seconds)
      CFCOOKIE_KEY_CACHE_TTL      = tostring(var.key_cache_ttl_seconds)
      RUST_LOG                    = "info"
    },
    length(var.cors_allowed_origins) > 0 ? { CFCOOKIE_ALLOWED_ORIGINS = join(",", var.cors_allowed_origins) } : {},
    length(var.required_groups) > 0 ? { CFCOOKIE_REQUIRED_GROUPS = join(",", var.required_groups) } : {},
  )
}

resource "aws_lambda_function_url" "endpoint" {
  function_name      = module.endpoint.function_name
  authorization_type = "AWS_IAM" # only CloudFront (OAC) can call it
}

resource "aws_lambda_permission" "cloudfront_invokes_url" {
  count                  = var.emulator ? 0 : 1
  statement_id           = "CloudFrontInvokeFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = module.endpoint.function_name
  principal              = "cloudfront.amazonaws.com"
  source_arn             = aws_cloudfront_distribution.media[0].arn
  function_url_auth_type = "AWS_IAM"
}

resource "aws_lambda_permission" "cloudfront_invokes_function" {
  count         = var.emulator ? 0 : 1
  statement_id  = "CloudFrontInvokeFunction"
  action        = "lambda:InvokeFunction"
  function_name = module.endpoint.function_name
  principal     = "cloudfront.amazonaws.com"
  source_arn    = aws_cloudfront_distribution.media[0].arn
}
