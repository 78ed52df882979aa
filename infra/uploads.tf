# Uploads (enable_uploads): a Cognito identity pool on the user pool gives each signed-in user
# temporary credentials of one role, which may only PutObject under users/<their sub>/.
#
# The prefix is the user pool's `sub`, carried into the session as a principal tag
# (attributes for access control), not the identity pool's identity id
# (${cognito-identity.amazonaws.com:sub}): the identity id is not in the access token the cookie
# endpoint checks, and it holds a ':' that the endpoint refuses in a resource path segment, so
# the endpoint could never give a user cookies for their own upload prefix. With the tag, the
# role's prefix and the cookie template's {sub} are the same value
# (https://docs.aws.amazon.com/cognito/latest/developerguide/attributes-for-access-control.html).

locals {
  uploads = var.enable_uploads ? 1 : 0
  # Policy variable, escaped for Terraform: IAM substitutes it per session.
  upload_object_arn = "${aws_s3_bucket.media.arn}/${local.upload_prefix}/$${aws:PrincipalTag/sub}/*"
}

resource "aws_cognito_identity_pool" "uploads" {
  count                            = local.uploads
  identity_pool_name               = "${var.name_prefix}-uploads"
  allow_unauthenticated_identities = false
  allow_classic_flow               = false
  cognito_identity_providers {
    client_id               = local.client_ids[0]
    provider_name           = "cognito-idp.${var.aws_region}.amazonaws.com/${local.user_pool_id}"
    server_side_token_check = true
  }
}

data "aws_iam_policy_document" "uploader_trust" {
  count = local.uploads
  statement {
    # sts:TagSession: the identity pool passes the principal tags into the session.
    actions = ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]
    principals {
      type        = "Federated"
      identifiers = ["cognito-identity.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "cognito-identity.amazonaws.com:aud"
      values   = [aws_cognito_identity_pool.uploads[0].id]
    }
    condition {
      test     = "ForAnyValue:StringLike"
      variable = "cognito-identity.amazonaws.com:amr"
      values   = ["authenticated"]
    }
  }
}

resource "aws_iam_role" "uploader" {
  count              = local.uploads
  name               = "${var.name_prefix}-cfcookie-uploader"
  assume_role_policy = data.aws_iam_policy_document.uploader_trust[0].json
}

data "aws_iam_policy_document" "uploader" {
  count = local.uploads
  statement {
    sid       = "OwnPrefixOnly"
    actions   = ["s3:PutObject"]
    resources = [local.upload_object_arn]
  }
}

resource "aws_iam_role_policy" "uploader" {
  count  = local.uploads
  name   = "own-prefix"
  role   = aws_iam_role.uploader[0].id
  policy = data.aws_iam_policy_document.uploader[0].json
}

# Left out of the emulator run: moto's Cognito Identity has no SetIdentityPoolRoles and no
# SetPrincipalTagAttributeMap (docs/deploy.md lists what the emulator run leaves out).
resource "aws_cognito_identity_pool_roles_attachment" "uploads" {
  count            = var.enable_uploads && !var.emulator ? 1 : 0
  identity_pool_id = aws_cognito_identity_pool.uploads[0].id
  roles = {
    authenticated = aws_iam_role.uploader[0].arn
  }
}

resource "aws_cognito_identity_pool_provider_principal_tag" "uploads" {
  count                  = var.enable_uploads && !var.emulator ? 1 : 0
  identity_pool_id       = aws_cognito_identity_pool.uploads[0].id
  identity_provider_name = "cognito-idp.${var.aws_region}.amazonaws.com/${local.user_pool_id}"
  use_defaults           = false
  principal_tags = {
    sub = "sub"
  }
}
