# Deliberately wrong: tests/infra shows the validation blocks refuse each value.
name_prefix             = "Bad_Prefix!"
cookie_lifetime_seconds = 14400
rotation_interval_hours = 4
rotator_zip             = "does/not/exist.zip"
