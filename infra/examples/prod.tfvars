# One production stack.  terraform apply -var-file=examples/prod.tfvars
# With route53_zone_id Terraform validates the certificate and writes the alias records; without
# it, apply waits for the CNAME in `terraform output certificate_validation_records`
# (docs/deploy.md, "Your own domain"). State: examples/backend-prod.hcl.
name_prefix             = "media-prod"
aws_region              = "eu-west-1"
domain_name             = "media.example.com"
cookie_lifetime_seconds = 3600
rotation_interval_hours = 720
cors_allowed_origins    = ["https://app.example.com"]
callback_urls           = ["https://app.example.com/callback"]
logout_urls             = ["https://app.example.com/"]
cognito_domain_prefix   = "media-prod-example"
alarm_email             = "oncall@example.com"
price_class             = "PriceClass_100"
enable_uploads          = true
access_logs             = true
