output "media_domain" {
  description = "Where the media is served (the alternate domain, or the distribution's)."
  value       = local.media_domain
}

output "cookie_url" {
  description = "The app calls this with the user's access token (header named by token_header)."
  value       = "https://${local.media_domain}/cookie"
}

output "distribution_id" {
  description = "CloudFront distribution id."
  value       = aws_cloudfront_distribution.media.id
}

output "distribution_domain" {
  description = "The distribution's own name (dxxxx.cloudfront.net)."
  value       = aws_cloudfront_distribution.media.domain_name
}

output "dns_target" {
  description = "With domain_name: point it here (CNAME, or a Route 53 alias; written for you with route53_zone_id)."
  value       = var.domain_name != null ? { name = var.domain_name, type = "CNAME or alias", target = aws_cloudfront_distribution.media.domain_name, written = var.route53_zone_id != null } : null
}

output "certificate_validation_records" {
  description = "Without route53_zone_id: create these DNS records so ACM issues the certificate (apply waits for it)."
  value = local.request_certificate && var.route53_zone_id == null ? [
    for o in aws_acm_certificate.media[0].domain_validation_options : { name = o.resource_record_name, type = o.resource_record_type, value = o.resource_record_value }
  ] : []
}

output "issuer" {
  description = "Token issuer the endpoint accepts."
  value       = local.issuer
}

output "client_id" {
  description = "The app client to sign users in with."
  value       = local.client_ids[0]
}

output "sign_in_url" {
  description = "Hosted-UI sign-in (authorization code flow) for the first callback URL; null without cognito_domain_prefix."
  value = length(aws_cognito_user_pool_domain.hosted_ui) > 0 ? format(
    "https://%s.auth.%s.amazoncognito.com/oauth2/authorize?response_type=code&client_id=%s&redirect_uri=%s&scope=openid+email+profile",
    aws_cognito_user_pool_domain.hosted_ui[0].domain, var.aws_region, local.client_ids[0], urlencode(var.callback_urls[0])
  ) : null
}

output "uploads" {
  description = "Browser upload settings (AWS SDK for JavaScript v3: fromCognitoIdentityPool + PutObject), or null."
  value = var.enable_uploads ? {
    region           = var.aws_region
    identity_pool_id = aws_cognito_identity_pool.uploads[0].id
    login_provider   = "cognito-idp.${var.aws_region}.amazonaws.com/${local.user_pool_id}"
    bucket           = aws_s3_bucket.media.bucket
    key_prefix       = "${local.upload_prefix}/<id token sub>/"
    role_arn         = aws_iam_role.uploader[0].arn
  } : null
}

output "canary_url" {
  description = "The object testSecret fetches with the new key (CFCOOKIE_CANARY_URL), or null."
  value       = var.canary ? local.canary_url : null
}

output "bucket" {
  description = "The private media bucket: upload objects here."
  value       = aws_s3_bucket.media.bucket
}

output "key_group_id" {
  description = "The trusted key group the rotator maintains (CFCOOKIE_KEY_GROUP_ID)."
  value       = aws_cloudfront_key_group.signers.id
}

output "secret_id" {
  description = "The secret holding the signing key (CFCOOKIE_SECRET_ID)."
  value       = aws_secretsmanager_secret.signing_key.arn
}

output "key_id_parameter" {
  description = "SSM parameter(s) with the active key id (CFCOOKIE_KEY_ID_PARAMETER, comma-separated)."
  value       = join(",", local.key_id_parameters)
}

output "placeholder_version_id" {
  description = "The secret's first version (placeholder), kept for good by its own staging label."
  value       = aws_secretsmanager_secret_version.placeholder.version_id
}

output "key_name_prefix" {
  description = "Name prefix of the rotator's public keys (CFCOOKIE_KEY_NAME_PREFIX)."
  value       = local.key_name_prefix
}

output "user_pool_id" {
  description = "Cognito user pool."
  value       = local.user_pool_id
}

output "client_ids" {
  description = "App client ids accepted by the endpoint."
  value       = local.client_ids
}

output "token_header" {
  description = "Header the app sends the access token in."
  value       = var.token_header
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = aws_sns_topic.alarms.arn
}

output "rotator_function" {
  description = "Rotation Lambda name."
  value       = module.rotator.function_name
}

output "endpoint_function" {
  description = "Cookie endpoint Lambda name."
  value       = module.endpoint.function_name
}

output "key_check_schedule" {
  description = "EventBridge Scheduler schedule that runs the rotator's key check (docs/decisions/0005-key-age-check.md)."
  value       = aws_scheduler_schedule.key_check.name
}
