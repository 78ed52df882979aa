# Remote state for the stage stack: terraform init -backend-config=examples/backend-stage.hcl
# (with a backend "s3" {} block, see docs/deploy.md). One key per stack; the bucket is yours,
# versioned, in any region. use_lockfile: S3-native locking (Terraform >= 1.10).
bucket       = "example-terraform-state"
key          = "cfcookie/media-stage.tfstate"
region       = "eu-west-1"
encrypt      = true
use_lockfile = true
