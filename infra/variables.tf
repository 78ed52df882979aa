variable "name_prefix" {
  description = "Prefix of every resource name, so several stacks (dev, stage, prod) can share one account."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-24 characters: lower-case letters, digits and '-', starting with a letter and not ending with '-'."
  }
}

variable "aws_region" {
  description = "Region of the bucket, secret, Lambdas and user pool (CloudFront is global)."
  type        = string
  default     = "eu-west-1"
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "rotator_zip" {
  description = "The rotator's bootstrap.zip, as `cargo lambda build --release --arm64 --output-format zip` makes it."
  type        = string
  default     = "../target/lambda/cfcookie-rotator/bootstrap.zip"
  validation {
    condition     = fileexists(var.rotator_zip)
    error_message = "rotator_zip does not exist: build it with `cargo lambda build --release --arm64 --output-format zip -p cfcookie-rotator -p cfcookie --bin cfcookie-rotator --bin cfcookie-endpoint` from the repository root."
  }
}

variable "endpoint_zip" {
  description = "The cookie endpoint's bootstrap.zip, as `cargo lambda build` makes it."
  type        = string
  default     = "../target/lambda/cfcookie-endpoint/bootstrap.zip"
  validation {
    condition     = fileexists(var.endpoint_zip)
    error_message = "endpoint_zip does not exist: build it with `cargo lambda build --release --arm64 --output-format zip -p cfcookie-rotator -p cfcookie --bin cfcookie-rotator --bin cfcookie-endpoint` from the repository root."
  }
}

variable "cookie_lifetime_seconds" {
  description = "Longest a cookie lives (CFCOOKIE_COOKIE_LIFETIME); also the access token lifetime of the app client."
  type        = number
  default     = 3600
  validation {
    condition     = var.cookie_lifetime_seconds >= 300 && var.cookie_lifetime_seconds <= 86400
    error_message = "cookie_lifetime_seconds must be between 300 (5 minutes, Cognito's shortest access token) and 86400 (1 day)."
  }
}

variable "activation_delay_seconds" {
  description = "Seconds after creation before a new key signs, so every CloudFront edge has the new key group (CFCOOKIE_ACTIVATION_DELAY)."
  type        = number
  default     = 300
  validation {
    condition     = var.activation_delay_seconds >= 0 && var.activation_delay_seconds <= 3600
    error_message = "activation_delay_seconds must be between 0 and 3600."
  }
}

variable "key_cache_ttl_seconds" {
  description = "How long the endpoint caches the secret (CFCOOKIE_KEY_CACHE_TTL)."
  type        = number
  default     = 300
  validation {
    condition     = var.key_cache_ttl_seconds >= 10 && var.key_cache_ttl_seconds <= 3600
    error_message = "key_cache_ttl_seconds must be between 10 and 3600."
  }
}

variable "rotation_interval_hours" {
  description = "Hours between key rotations. Must exceed cookie lifetime + activation delay + cache TTL, or a key would leave the key group while cookies it signed are still valid."
  type        = number
  default     = 720
  validation {
    condition     = var.rotation_interval_hours >= 4 && var.rotation_interval_hours <= 8760
    error_message = "rotation_interval_hours must be between 4 (Secrets Manager's shortest schedule) and 8760."
  }
  validation {
    # Secrets Manager's rate() is written in days from one day on (locals.tf).
    condition     = var.rotation_interval_hours < 24 || var.rotation_interval_hours % 24 == 0
    error_message = "rotation_interval_hours of 24 or more must be whole days (a multiple of 24): the schedule is then rate(N days)."
  }
  validation {
    # Two rotations may fall interval - window apart (the window is 1 h for hourly rates,
    # rotation_window_hours for day rates); the rotator refuses a schedule whose spacing is
    # shorter than cookie lifetime + activation delay + cache TTL.
    condition     = (var.rotation_interval_hours - (var.rotation_interval_hours < 24 ? 1 : var.rotation_window_hours)) * 3600 > var.cookie_lifetime_seconds + var.activation_delay_seconds + var.key_cache_ttl_seconds
    error_message = "rotation_interval_hours is too short: two rotations may fall rotation_interval_hours minus the rotation window apart (1 hour for hourly rates, rotation_window_hours for day rates), and that must exceed cookie_lifetime_seconds + activation_delay_seconds + key_cache_ttl_seconds, or the previous key leaves the key group while its cookies are still valid."
  }
}

variable "rotation_window_hours" {
  description = "Length of the rotation window for schedules of a day or more (Secrets Manager's Duration): rotations happen at any time in the first rotation_window_hours of the UTC day they fall on. Shorter windows space rotations more evenly."
  type        = number
  default     = 4
  validation {
    condition     = var.rotation_window_hours >= 1 && var.rotation_window_hours <= 23 && floor(var.rotation_window_hours) == var.rotation_window_hours
    error_message = "rotation_window_hours must be a whole number of hours from 1 to 23 (the window may not reach into the next UTC day)."
  }
}

variable "rotate_immediately" {
  description = "Rotate once right after apply (replaces the bootstrap placeholder with a real key)."
  type        = bool
  default     = true
}

variable "key_name_prefix" {
  description = "Name prefix of the public keys the rotator manages (CFCOOKIE_KEY_NAME_PREFIX); default '<name_prefix>-cfk'."
  type        = string
  default     = null
  validation {
    condition     = var.key_name_prefix == null || can(regex("^[A-Za-z0-9_-]{1,64}$", var.key_name_prefix))
    error_message = "key_name_prefix must be 1-64 letters, digits, '-' or '_' (CloudFront public key names)."
  }
}

variable "price_class" {
  description = "CloudFront price class."
  type        = string
  default     = "PriceClass_100"
  validation {
    condition     = contains(["PriceClass_All", "PriceClass_200", "PriceClass_100"], var.price_class)
    error_message = "price_class must be PriceClass_All, PriceClass_200 or PriceClass_100."
  }
}

variable "domain_name" {
  description = "Optional alternate domain of the distribution (e.g. media.example.com). Terraform requests its certificate in us-east-1 with DNS validation, unless acm_certificate_arn names one."
  type        = string
  default     = null
  validation {
    condition     = var.domain_name == null || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name))
    error_message = "domain_name must be a lower-case DNS name such as media.example.com."
  }
}

variable "route53_zone_id" {
  description = "Optional Route 53 hosted zone of domain_name: Terraform then writes the certificate's validation record and the alias records."
  type        = string
  default     = null
  validation {
    condition     = var.route53_zone_id == null || var.domain_name != null
    error_message = "route53_zone_id needs domain_name."
  }
}

variable "acm_certificate_arn" {
  description = "Optional issued ACM certificate (us-east-1) covering domain_name (exactly, as a SAN or by a wildcard), instead of the one Terraform requests; CloudFront refuses one that does not cover it."
  type        = string
  default     = null
  validation {
    # Any partition's ARN (arn:aws:, arn:aws-cn:, …): the shape is checked, not the partition.
    condition     = var.acm_certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/[0-9a-f-]+$", var.acm_certificate_arn))
    error_message = "acm_certificate_arn must be an ACM certificate ARN in us-east-1 (CloudFront's region for certificates)."
  }
  validation {
    condition     = var.acm_certificate_arn == null || var.domain_name != null
    error_message = "acm_certificate_arn needs domain_name (the name the certificate is for)."
  }
  validation {
    condition     = var.acm_certificate_arn == null || !can(regex("/0{8}-0{4}-0{4}-0{4}-0{12}$", var.acm_certificate_arn))
    error_message = "acm_certificate_arn is a placeholder; leave it unset to have Terraform request the certificate."
  }
}

variable "web_acl_id" {
  description = "Optional WAFv2 web ACL ARN (scope CLOUDFRONT) to attach to the distribution."
  type        = string
  default     = null
}

variable "cors_allowed_origins" {
  description = "Origins of apps that call /cookie from the browser with credentials (CFCOOKIE_ALLOWED_ORIGINS), read media cross-origin (the distribution's response headers policy) and, with uploads, PUT to the bucket (bucket CORS)."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for o in var.cors_allowed_origins : can(regex("^https?://[^/]+$", o))])
    error_message = "cors_allowed_origins entries must be origins like https://app.example.com (scheme and host, no path)."
  }
}

variable "required_groups" {
  description = "Cognito groups of which a user needs one to get cookies (empty: any signed-in user; sign-up is closed unless allow_self_sign_up)."
  type        = list(string)
  default     = []
}

variable "allow_self_sign_up" {
  description = "Let anyone sign up to the user pool. Off: only administrators create users. On, required_groups must say who gets cookies."
  type        = bool
  default     = false
  validation {
    condition     = !var.allow_self_sign_up || length(var.required_groups) > 0
    error_message = "allow_self_sign_up needs required_groups: otherwise anyone on the internet can sign up and get cookies for all media."
  }
}

variable "user_pool_deletion_protection" {
  description = "Protect the user pool (and its users) from deletion, including by terraform destroy."
  type        = bool
  default     = true
}

variable "existing_user_pool_id" {
  description = "Use this Cognito user pool instead of creating one."
  type        = string
  default     = null
}

variable "existing_client_ids" {
  description = "With existing_user_pool_id: the app client ids whose tokens are accepted."
  type        = list(string)
  default     = []
  validation {
    # An empty CFCOOKIE_CLIENT_IDS makes the endpoint fail at start-up: every /cookie a 502.
    condition     = var.existing_user_pool_id == null || length(var.existing_client_ids) > 0
    error_message = "existing_user_pool_id needs existing_client_ids: the app client ids whose tokens the endpoint accepts."
  }
}

variable "callback_urls" {
  description = "OAuth callback URLs of the app client (code flow)."
  type        = list(string)
  default     = ["http://localhost:3000/callback"]
}

variable "logout_urls" {
  description = "OAuth sign-out URLs of the app client."
  type        = list(string)
  default     = ["http://localhost:3000/"]
}

variable "cognito_domain_prefix" {
  description = "Optional Cognito hosted UI domain prefix."
  type        = string
  default     = null
}

variable "token_header" {
  description = "Header the app sends the token in (CloudFront OAC overwrites Authorization on the way to the function URL)."
  type        = string
  default     = "x-cfcookie-token"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,40}$", var.token_header)) && var.token_header != "authorization"
    error_message = "token_header must be a lower-case header name other than authorization."
  }
}

variable "alarm_email" {
  description = "Optional e-mail address subscribed to the alarm topic (a failed rotation reaches a person within minutes)."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Retention of the Lambdas' log groups."
  type        = number
  default     = 365
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, …)."
  }
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can be restored (0 deletes it at once, as the emulator test does)."
  type        = number
  default     = 30
  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}

variable "force_destroy_bucket" {
  description = "Let `terraform destroy` delete the media bucket with everything in it (off: destroy stops at a non-empty bucket)."
  type        = bool
  default     = false
}

variable "emulator" {
  description = "Set only by the emulator test (tests/infra): leaves out the resources the emulator cannot create, listed in docs/deploy.md. Never set it for a real account."
  type        = bool
  default     = false
}

variable "key_algorithm" {
  description = "Algorithm of the signing keys the rotator makes (CFCOOKIE_KEY_ALGORITHM): RSA_2048 or ECDSA_P256. CloudFront accepts both for signed URLs and cookies; a change takes effect at the next rotation, and the key group holds one key of each until the rotation after."
  type        = string
  default     = "RSA_2048"
  validation {
    condition     = contains(["RSA_2048", "ECDSA_P256"], var.key_algorithm)
    error_message = "key_algorithm must be RSA_2048 or ECDSA_P256 (CloudFront takes RSA 2048 and ECDSA 256 keys for signed URLs and cookies)."
  }
}

variable "canary" {
  description = "testSecret fetches a real object under the protected behavior with the new key's cookies (CFCOOKIE_CANARY_URL) before the key becomes current."
  type        = bool
  default     = true
}

variable "extra_key_id_parameters" {
  description = "More SSM parameters that receive the active key id, besides the stack's own (created by the rotator if missing; the rotator's role may write exactly these)."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for n in var.extra_key_id_parameters : can(regex("^/[A-Za-z0-9_./-]+$", n))])
    error_message = "extra_key_id_parameters must be SSM parameter names starting with '/'."
  }
}

variable "enable_uploads" {
  description = "A Cognito identity pool whose signed-in users may upload (s3:PutObject) under users/<their sub>/ only."
  type        = bool
  default     = false
}

variable "per_user_cookies" {
  description = "Cookies cover only users/<sub>/* of the signed-in user (the prefix they upload to) instead of all media."
  type        = bool
  default     = false
}

variable "access_logs" {
  description = "Create a log bucket and send CloudFront standard logs to it (kept log_retention_days)."
  type        = bool
  default     = false
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted media object's old version is kept."
  type        = number
  default     = 30
  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days must be at least 1."
  }
}

variable "public_paths" {
  description = "Path patterns of the bucket served without signed cookies (e.g. [\"/public/*\"] for an app's own pages and scripts on the media site). Each is a cache behavior without trusted key groups, evaluated before the protected default."
  type        = list(string)
  default     = []
  validation {
    # "*" or "/*" would make every object public; the cookie paths belong to the endpoint.
    condition = alltrue([for p in var.public_paths :
      can(regex("^/[A-Za-z0-9_.~/-]+(/\\*|\\*)?$", p)) && !startswith(p, "/cookie") && !startswith(p, "/_cfcookie")
    ])
    error_message = "public_paths entries must be path patterns like /public/* under a fixed prefix, and not under /cookie or /_cfcookie."
  }
}
