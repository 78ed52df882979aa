# The private media bucket: no public access, readable only by this distribution (OAC).

resource "aws_s3_bucket" "media" {
  bucket_prefix = "${var.name_prefix}-media-"
  force_destroy = var.force_destroy_bucket
  #checkov:skip=CKV_AWS_18:Server access logging is the operator's choice of log bucket; CloudFront standard logs are optional (access_logs).
  #checkov:skip=CKV_AWS_144:Cross-region replication is a durability choice outside this module; versioning is on.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES256) is used; a customer-managed KMS key would need a key policy granting CloudFront OAC decrypt, left to operators who need it.
  #checkov:skip=CKV2_AWS_62:Event notifications have no consumer in this design.
}

resource "aws_s3_bucket_versioning" "media" {
  bucket = aws_s3_bucket.media.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

# Versioning keeps every overwritten or deleted object; these expire, and so do the parts of
# uploads a browser abandoned.
resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    id     = "noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
  }
  rule {
    id     = "incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  depends_on = [aws_s3_bucket_versioning.media]
}

resource "aws_s3_bucket_public_access_block" "media" {
  bucket                  = aws_s3_bucket.media.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

data "aws_iam_policy_document" "media_bucket" {
  statement {
    # s3:ListBucket too: without it S3 answers a missing key with 403 AccessDenied, not 404
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, Permissions).
    # The distribution never asks for a listing: "/" maps to default_root_object (cdn.tf).
    sid       = "CloudFrontOriginAccessControlOnly"
    actions   = ["s3:GetObject", "s3:ListBucket"]
    resources = [aws_s3_bucket.media.arn, "${aws_s3_bucket.media.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.media.arn]
    }
  }
  dynamic "statement" {
    # Left out of the emulator run only: the emulator speaks plain HTTP and enforces this.
    for_each = var.emulator ? [] : [1]
    content {
      sid       = "TLSOnly"
      effect    = "Deny"
      actions   = ["s3:*"]
      resources = [aws_s3_bucket.media.arn, "${aws_s3_bucket.media.arn}/*"]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "Bool"
        variable = "aws:SecureTransport"
        values   = ["false"]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "media" {
  bucket     = aws_s3_bucket.media.id
  policy     = data.aws_iam_policy_document.media_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.media]
}

# Browsers upload straight to S3 (uploads.tf); reads go through CloudFront, whose response
# headers policy answers CORS (cdn.tf).
resource "aws_s3_bucket_cors_configuration" "media" {
  count  = var.enable_uploads && length(var.cors_allowed_origins) > 0 ? 1 : 0
  bucket = aws_s3_bucket.media.id
  cors_rule {
    allowed_methods = ["PUT", "POST"]
    allowed_origins = var.cors_allowed_origins
    allowed_headers = ["*"]
    expose_headers  = ["ETag"]
    max_age_seconds = 3600
  }
}

# The canary testSecret fetches with the new key's cookies (CFCOOKIE_CANARY_URL): a real object
# under the protected default behavior.
resource "aws_s3_object" "canary" {
  count         = var.canary ? 1 : 0
  bucket        = aws_s3_bucket.media.id
  key           = local.canary_key
  content       = "cfcookie canary: readable only with cookies signed by a trusted key\n"
  content_type  = "text/plain"
  cache_control = "no-store"
  # Written once versioning and encryption are on: an object written before would keep a
  # "null" version outside the bucket's versioning.
  depends_on = [aws_s3_bucket_versioning.media, aws_s3_bucket_server_side_encryption_configuration.media]
}

# Optional log bucket for CloudFront standard logs. CloudFront writes them through an ACL, so
# this bucket (only) keeps ACLs enabled
# (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logging-legacy-s3.html).
resource "aws_s3_bucket" "logs" {
  count         = var.access_logs ? 1 : 0
  bucket_prefix = "${var.name_prefix}-logs-"
  force_destroy = var.force_destroy_bucket
  #checkov:skip=CKV_AWS_18:This is the log bucket.
  #checkov:skip=CKV_AWS_144:Logs need no replica.
  #checkov:skip=CKV_AWS_145:CloudFront log delivery supports SSE-S3, not SSE-KMS.
  #checkov:skip=CKV2_AWS_62:No consumer for notifications.
  #checkov:skip=CKV_AWS_21:Log objects are written once; versioning would only keep deleted logs.
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  #checkov:skip=CKV2_AWS_65:CloudFront standard logging delivers through an ACL grant; this log bucket alone keeps ACLs on.
  count  = var.access_logs ? 1 : 0
  bucket = aws_s3_bucket.logs[0].id
  rule {
    object_ownership = "BucketOwnerPreferred"
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  count                   = var.access_logs ? 1 : 0
  bucket                  = aws_s3_bucket.logs[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  count  = var.access_logs ? 1 : 0
  bucket = aws_s3_bucket.logs[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  count  = var.access_logs ? 1 : 0
  bucket = aws_s3_bucket.logs[0].id
  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.log_retention_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}
