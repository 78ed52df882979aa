# The key group CloudFront trusts, the secret the rotator keeps, and the published key id.

# The bootstrap key exists only until the first rotation has published a real key id: the
# rotator (CFCOOKIE_BOOTSTRAP_KEY_NAME) deletes it once it has left the group, so it does not
# hold one of the account's ten public keys for ever, and Terraform then stops declaring it
# (docs/decisions/0002-bootstrap-key-lifetime.md). GetParametersByPath, unlike GetParameter,
# does not fail on the first apply, when the parameter does not exist yet.
data "aws_ssm_parameters_by_path" "published" {
  path = "/${var.name_prefix}/cfcookie"
}

locals {
  published_key_id = try(nonsensitive(data.aws_ssm_parameters_by_path.published.values[
    index(data.aws_ssm_parameters_by_path.published.names, local.key_id_parameter)
  ]), "none-yet")
  # CloudFront public key ids start with "K"; the parameter's initial value does not.
  bootstrap_needed = !startswith(local.published_key_id, "K")
}

resource "aws_cloudfront_public_key" "bootstrap" {
  count       = local.bootstrap_needed ? 1 : 0
  name        = local.bootstrap_key_name
  comment     = "cfcookie bootstrap: no private key exists; the first rotation replaces it"
  encoded_key = file("${path.module}/keys/bootstrap-public-key.pem")
}

moved {
  from = aws_cloudfront_public_key.bootstrap
  to   = aws_cloudfront_public_key.bootstrap[0]
}

resource "aws_cloudfront_key_group" "signers" {
  name    = "${var.name_prefix}-cfcookie"
  comment = "current + previous signing key, maintained by ${var.name_prefix}-cfcookie-rotator"
  items   = aws_cloudfront_public_key.bootstrap[*].id
  lifecycle {
    # The rotator owns the membership from the first rotation on.
    ignore_changes = [items]
  }
}

resource "aws_secretsmanager_secret" "signing_key" {
  name_prefix             = "${var.name_prefix}/cfcookie/signing-key-"
  recovery_window_in_days = var.secret_recovery_window_days
  description             = "CloudFront signing key pair (cfcookie/1 format), rotated by ${var.name_prefix}-cfcookie-rotator"
  #checkov:skip=CKV_AWS_149:The default aws/secretsmanager key encrypts it; a customer-managed key would add a key policy for both Lambdas without changing who can read the secret (IAM already scopes that to the two roles).
  #checkov:skip=CKV2_AWS_57:Rotation is configured by aws_secretsmanager_secret_rotation below, which checkov does not link to the secret.
}

# The first value of the secret, before any rotation. It carries its own staging label besides
# AWSCURRENT: Secrets Manager may delete a version that has lost every label
# (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecretVersionStage.html),
# which two rotations would do to a version holding only AWSCURRENT; the provider then drops it
# from state and the next apply would put the placeholder back as AWSCURRENT, over the live key.
# The rotator never moves this label, so the version, and Terraform's record of it, last as long
# as the secret (docs/decisions/0003-placeholder-secret-version.md).
resource "aws_secretsmanager_secret_version" "placeholder" {
  secret_id      = aws_secretsmanager_secret.signing_key.id
  secret_string  = jsonencode({ placeholder = "set by Terraform; the first rotation replaces it with a key" })
  version_stages = ["AWSCURRENT", local.placeholder_stage]
  lifecycle {
    ignore_changes = [secret_string, version_stages]
  }
}

# The provider calls RotateSecret on every change of the rotation rules, with RotateImmediately
# taken from rotate_immediately (internal/service/secretsmanager/secret_rotation.go,
# resourceSecretRotationUpdate). A rotation started by an apply that only changed the schedule
# could be refused as Rotation.TooSoon (an alarm), and the apply fails outright while a rotation
# is stuck in AWSPENDING. So only the first apply, before any key has been published, rotates
# at once; later ones only ask Secrets Manager to run testSecret on the current key
# (RotateImmediately=false: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html).
# rotate_immediately alone changing is no update the provider acts on (it is not among the
# attributes resourceSecretRotationUpdate checks), so the flip after the first rotation calls nothing.
resource "aws_secretsmanager_secret_rotation" "signing_key" {
  secret_id           = aws_secretsmanager_secret.signing_key.id
  rotation_lambda_arn = module.rotator.function_arn
  rotate_immediately  = var.rotate_immediately && local.bootstrap_needed
  rotation_rules {
    schedule_expression = local.rotation_schedule
    duration            = local.rotation_window
  }
  # Whatever the first rotation touches must exist first: the rotator's role policies (the
  # whole module: its function_arn output depends on the function alone), the placeholder
  # version, the canary object it fetches and the bucket policy that lets CloudFront read it,
  # and the alias records where Terraform writes them.
  depends_on = [
    aws_lambda_permission.secrets_manager_invokes_rotator,
    aws_secretsmanager_secret_version.placeholder,
    module.rotator,
    aws_s3_bucket_policy.media,
    aws_s3_object.canary,
    aws_route53_record.media,
  ]
}

resource "aws_ssm_parameter" "key_id" {
  #checkov:skip=CKV2_AWS_34:A CloudFront key id is public (it travels in every cookie); SecureString would only force kms:Decrypt on every reader.
  name        = local.key_id_parameter
  description = "CloudFront key id of the active cfcookie signing key (published by the rotator)"
  type        = "String"
  value       = "none-yet"
  lifecycle {
    ignore_changes = [value]
  }
}
