output "media_domain" {
  description = "Where the media is served (the alternate domain, or the distribution's)."
  value       = local.media_domain
}

output "cookie_url" {
  description = "The app calls this with the user's access token (header named by token_header)."
  value       = "https://${local.media_domain}/cookie"
}

output "distribution_id" {
  description = "CloudFront distribution id (null in the emulator run)."
  value       = var.emulator ? null : aws_cloudfront_distribution.media[0].id
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
  description = "SSM parameter with the active key id (CFCOOKIE_KEY_ID_PARAMETER)."
  value       = aws_ssm_parameter.key_id.name
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
