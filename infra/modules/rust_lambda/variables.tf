variable "name" {
  description = "Function (and role, and log group) name."
  type        = string
}

variable "description" {
  description = "Function description."
  type        = string
}

variable "zip_path" {
  description = "bootstrap.zip from `cargo lambda build --release --arm64 --output-format zip`."
  type        = string
}

variable "environment" {
  description = "Environment variables (CFCOOKIE_*)."
  type        = map(string)
}

variable "policy_json" {
  description = "IAM policy with exactly the API calls the function makes."
  type        = string
}

variable "memory_mb" {
  description = "Memory in MB."
  type        = number
  default     = 256
}

variable "timeout_seconds" {
  description = "Timeout in seconds."
  type        = number
  default     = 30
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions (-1: unreserved)."
  type        = number
  default     = -1
}

variable "log_retention_days" {
  description = "Log group retention."
  type        = number
}
