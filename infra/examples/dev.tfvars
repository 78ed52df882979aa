# dev and stage side by side in one account: every name carries name_prefix, including the
# managed key prefix, so neither stack's rotator ever touches the other's keys.
name_prefix             = "media-dev"
cookie_lifetime_seconds = 900
rotation_interval_hours = 24
alarm_email             = null
