name_prefix             = "media-stage"
cookie_lifetime_seconds = 1800
rotation_interval_hours = 168
