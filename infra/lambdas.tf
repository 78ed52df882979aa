module "rotator" {
  source             = "./modules/rust_lambda"
  name               = "${var.name_prefix}-cfcookie-rotator"
  description        = "Rotates the CloudFront signing key in ${aws_secretsmanager_secret.signing_key.name}"
  zip_path           = var.rotator_zip
  policy_json        = data.aws_iam_policy_document.rotator.json
  timeout_seconds    = local.rotator_timeout_seconds
  memory_mb          = 256
  log_retention_days = var.log_retention_days
  environment = merge(
    {
      CFCOOKIE_KEY_GROUP_ID       = aws_cloudfront_key_group.signers.id
      CFCOOKIE_KEY_ID_PARAMETER   = join(",", local.key_id_parameters)
      CFCOOKIE_KEY_NAME_PREFIX    = local.key_name_prefix
      CFCOOKIE_BOOTSTRAP_KEY_NAME = local.bootstrap_key_name
      CFCOOKIE_ACTIVATION_DELAY   = tostring(var.activation_delay_seconds)
      CFCOOKIE_COOKIE_LIFETIME    = tostring(var.cookie_lifetime_seconds)
      CFCOOKIE_KEY_CACHE_TTL      = tostring(var.key_cache_ttl_seconds)
      CFCOOKIE_KEY_ALGORITHM      = var.key_algorithm
      RUST_LOG                    = "info"
    },
    var.canary ? {
      CFCOOKIE_CANARY_URL        = local.canary_url
      CFCOOKIE_CANARY_ATTEMPTS   = tostring(local.canary_attempts)
      CFCOOKIE_CANARY_BACKOFF_MS = tostring(local.canary_backoff_ms)
    } : {},
  )
}

locals {
  # Sign-out (POST /cookie/remove) from the media site itself carries Origin: https://DOMAIN,
  # while the Host the endpoint sees behind CloudFront is its function URL's: the site's own
  # origin must be on the list. The *.cloudfront.net name cannot be (the distribution depends on
  # this function's URL); without domain_name the endpoint judges it by the resource's host.
  endpoint_allowed_origins = distinct(concat(
    var.domain_name != null ? ["https://${var.domain_name}"] : [],
    var.cors_allowed_origins,
  ))
  # testSecret's canary: `canary_attempts` GETs of at most 10 s each (rotator/src/ports.rs)
  # with doubling waits between them; the function must outlast them with room to spare.
  rotator_timeout_seconds = 120
}

# Secrets Manager may invoke the rotator for this secret only (confused deputy:
# https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotating-secrets-required-permissions-function.html).
resource "aws_lambda_permission" "secrets_manager_invokes_rotator" {
  statement_id   = "SecretsManagerRotation"
  action         = "lambda:InvokeFunction"
  function_name  = module.rotator.function_name
  principal      = "secretsmanager.amazonaws.com"
  source_account = local.account_id
  source_arn     = aws_secretsmanager_secret.signing_key.arn
}

# The distribution's domain, for the endpoint's resource template (see CFCOOKIE_RESOURCE_PARAMETER).
# With uploads each user's cookies cover only their own prefix, the one their identity-pool
# role may write (uploads.tf); otherwise all media.
resource "aws_ssm_parameter" "resource" {
  #checkov:skip=CKV2_AWS_34:The resource pattern is the public media URL; nothing secret.
  name        = local.resource_parameter
  description = "Resource pattern of the cookies the endpoint issues"
  type        = "String"
  value       = var.per_user_cookies ? "https://${local.media_domain}/${local.upload_prefix}/{sub}/*" : "https://${local.media_domain}/*"
}

module "endpoint" {
  source             = "./modules/rust_lambda"
  name               = "${var.name_prefix}-cfcookie-endpoint"
  description        = "GET /cookie and POST /cookie/remove behind ${var.name_prefix}'s distribution"
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
    length(local.endpoint_allowed_origins) > 0 ? { CFCOOKIE_ALLOWED_ORIGINS = join(",", local.endpoint_allowed_origins) } : {},
    length(var.required_groups) > 0 ? { CFCOOKIE_REQUIRED_GROUPS = join(",", var.required_groups) } : {},
  )
}

resource "aws_lambda_function_url" "endpoint" {
  function_name      = module.endpoint.function_name
  authorization_type = "AWS_IAM" # only CloudFront (OAC) can call it
}

# CloudFront's OAC needs both (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-lambda.html).
resource "aws_lambda_permission" "cloudfront_invokes_url" {
  statement_id           = "CloudFrontInvokeFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = module.endpoint.function_name
  principal              = "cloudfront.amazonaws.com"
  source_arn             = aws_cloudfront_distribution.media.arn
  function_url_auth_type = "AWS_IAM"
}

resource "aws_lambda_permission" "cloudfront_invokes_function" {
  statement_id  = "CloudFrontInvokeFunction"
  action        = "lambda:InvokeFunction"
  function_name = module.endpoint.function_name
  principal     = "cloudfront.amazonaws.com"
  source_arn    = aws_cloudfront_distribution.media.arn
}
