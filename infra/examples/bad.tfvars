# Deliberately wrong: tests/infra shows the validation blocks refuse each value.
name_prefix             = "Bad_Prefix!"
cookie_lifetime_seconds = 14400
rotation_interval_hours = 4
rotator_zip             = "does/not/exist.zip"
existing_user_pool_id   = "eu-west-1_AbCdEf123"
allow_self_sign_up      = true
acm_certificate_arn     = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
public_paths            = ["/*"]
