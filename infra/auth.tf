# Who may get cookies: a Cognito user pool and a public app client (code flow, no secret).
# Sign-up is closed unless allow_self_sign_up (which then needs required_groups, validated in
# variables.tf): an open pool would hand cookies for all media to anyone on the internet
# (https://docs.aws.amazon.com/cognito/latest/developerguide/signing-up-users-in-your-app.html).

resource "aws_cognito_user_pool" "users" {
  count                    = var.existing_user_pool_id == null ? 1 : 0
  name                     = "${var.name_prefix}-users"
  deletion_protection      = var.user_pool_deletion_protection ? "ACTIVE" : "INACTIVE"
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]
  mfa_configuration        = "OPTIONAL"
  software_token_mfa_configuration {
    enabled = true
  }
  password_policy {
    minimum_length    = 12
    require_lowercase = true
    require_numbers   = true
    require_symbols   = false
    require_uppercase = true
  }
  admin_create_user_config {
    allow_admin_create_user_only = !var.allow_self_sign_up
  }
}

resource "aws_cognito_user_pool_client" "web" {
  count                                = var.existing_user_pool_id == null ? 1 : 0
  name                                 = "${var.name_prefix}-web"
  user_pool_id                         = aws_cognito_user_pool.users[0].id
  generate_secret                      = false
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email", "profile"]
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = var.callback_urls
  logout_urls                          = var.logout_urls
  explicit_auth_flows                  = ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]
  prevent_user_existence_errors        = "ENABLED"
  enable_token_revocation              = true
  # A cookie never outlives the access token it was minted for.
  access_token_validity = var.cookie_lifetime_seconds
  id_token_validity     = var.cookie_lifetime_seconds
  token_validity_units {
    access_token  = "seconds"
    id_token      = "seconds"
    refresh_token = "days"
  }
  refresh_token_validity = 30
}

resource "aws_cognito_user_pool_domain" "hosted_ui" {
  count        = var.existing_user_pool_id == null && var.cognito_domain_prefix != null ? 1 : 0
  domain       = var.cognito_domain_prefix
  user_pool_id = aws_cognito_user_pool.users[0].id
}
