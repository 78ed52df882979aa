terraform {
  # The S3 backend's use_lockfile (examples/backend-*.hcl) needs Terraform 1.10 (experimental
  # there, generally available from 1.11):
  # https://developer.hashicorp.com/terraform/language/v1.10.x/upgrade-guides
  required_version = ">= 1.10"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80, < 6.0"
    }
  }
}
