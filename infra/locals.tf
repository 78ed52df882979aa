data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id      = data.aws_caller_identity.current.account_id
  partition       = data.aws_partition.current.partition
  key_name_prefix = coalesce(var.key_name_prefix, "${var.name_prefix}-cfk")
  # The bootstrap key's name must lie outside the managed name space (PREFIX-…), so the
  # rotator only removes it from the group and never deletes it.
  bootstrap_key_name = "${var.name_prefix}-bootstrap"
  media_domain       = var.domain_name != null ? var.domain_name : (var.emulator ? "emulator.invalid" : aws_cloudfront_distribution.media[0].domain_name)
  user_pool_id       = var.existing_user_pool_id != null ? var.existing_user_pool_id : aws_cognito_user_pool.users[0].id
  client_ids         = var.existing_user_pool_id != null ? var.existing_client_ids : [aws_cognito_user_pool_client.web[0].id]
  key_id_parameter   = "/${var.name_prefix}/cfcookie/key-id"
  # Written after the distribution exists; the endpoint gets only its name (no dependency).
  resource_parameter     = "/${var.name_prefix}/cfcookie/resource"
  resource_parameter_arn = "arn:${local.partition}:ssm:${var.aws_region}:${local.account_id}:parameter${local.resource_parameter}"
}
