provider "aws" {
  region = var.aws_region
  default_tags {
    tags = merge({ "cfcookie:stack" = var.name_prefix }, var.tags)
  }
}

# CloudFront's ACM certificates and WAF web ACLs live in us-east-1.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"
  default_tags {
    tags = merge({ "cfcookie:stack" = var.name_prefix }, var.tags)
  }
}
