# Remote state for the dev stack: terraform init -backend-config=examples/backend-dev.hcl
# (with a backend "s3" {} block, see docs/deploy.md). One key per stack; the bucket is yours,
# versioned, in any region. use_lockfile: S3-native locking (Terraform >= 1.10).
bucket       = "example-terraform-state"
key          = "cfcookie/media-dev.tfstate"
region       = "eu-west-1"
encrypt      = true
use_lockfile = true
