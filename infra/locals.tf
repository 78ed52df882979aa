data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id      = data.aws_caller_identity.current.account_id
  partition       = data.aws_partition.current.partition
  key_name_prefix = coalesce(var.key_name_prefix, "${var.name_prefix}-cfk")
  # The bootstrap key's name must lie outside the managed name space (PREFIX-…), so the
  # rotator only removes it from the group and never deletes it as one of its own.
  bootstrap_key_name = "${var.name_prefix}-bootstrap"
  # The staging label that keeps the placeholder version (keys.tf). Labels are 1-256
  # characters; the rotator only ever moves AWSCURRENT, AWSPENDING and AWSPREVIOUS.
  placeholder_stage = "CFCOOKIE_PLACEHOLDER"
  media_domain      = var.domain_name != null ? var.domain_name : aws_cloudfront_distribution.media.domain_name
  user_pool_id      = var.existing_user_pool_id != null ? var.existing_user_pool_id : aws_cognito_user_pool.users[0].id
  client_ids        = var.existing_user_pool_id != null ? var.existing_client_ids : [aws_cognito_user_pool_client.web[0].id]
  issuer            = "https://cognito-idp.${var.aws_region}.amazonaws.com/${local.user_pool_id}"
  key_id_parameter  = "/${var.name_prefix}/cfcookie/key-id"
  # Every parameter the rotator publishes the key id to: its IAM grant is built from the same
  # list (iam.tf), so a second parameter cannot fail finishSecret after AWSCURRENT moved.
  key_id_parameters = concat([aws_ssm_parameter.key_id.name], var.extra_key_id_parameters)
  key_id_parameter_arns = [
    for name in local.key_id_parameters :
    "arn:${local.partition}:ssm:${var.aws_region}:${local.account_id}:parameter/${trimprefix(name, "/")}"
  ]
  # Written after the distribution exists; the endpoint gets only its name (no dependency).
  resource_parameter     = "/${var.name_prefix}/cfcookie/resource"
  resource_parameter_arn = "arn:${local.partition}:ssm:${var.aws_region}:${local.account_id}:parameter${local.resource_parameter}"
  # Secrets Manager rate() takes hours or days; rates of a day or more are written in days
  # (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html).
  rotation_days = floor(var.rotation_interval_hours / 24)
  rotation_schedule = (
    var.rotation_interval_hours < 24 ? "rate(${var.rotation_interval_hours} hours)" :
    local.rotation_days == 1 ? "rate(1 day)" : "rate(${local.rotation_days} days)"
  )
  # Secrets Manager rotates at any instant of a window that opens at each period's start: one
  # hour for rate(N hours) by default, the whole UTC day for rate(N days) unless Duration says
  # otherwise. Two rotations can therefore be interval - window apart, and the rotator refuses a
  # schedule whose spacing cannot retire a key safely (rate(1 day) with a whole-day window
  # allows two rotations a minute apart). Day rates get a Duration of rotation_window_hours.
  # https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html
  rotation_window = var.rotation_interval_hours < 24 ? null : "${var.rotation_window_hours}h"
  # A key older than about two rotation intervals means rotation has stopped.
  key_age_alarm_seconds = 2 * var.rotation_interval_hours * 3600
  # The scheduled key check (alarms.tf): often enough that a stopped rotation pages within the
  # hour the alarm looks at, rarely enough to cost nothing (about 2,900 invocations a month).
  key_check_schedule = "rate(15 minutes)"
  # A real object behind the protected behavior that testSecret fetches with the new key.
  canary_key = "_cfcookie/canary.txt"
  # The distribution's own *.cloudfront.net name, not domain_name: the operator may create that
  # DNS record only after apply, and the first rotation runs during it.
  canary_url = "https://${aws_cloudfront_distribution.media.domain_name}/${local.canary_key}"
  # Rotator timeout vs canary: attempts with doubling waits must end well inside it.
  canary_attempts   = 5
  canary_backoff_ms = 2000
  upload_prefix     = "users"
}
