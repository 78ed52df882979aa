# The private media bucket: no public access, readable only by this distribution (OAC).

resource "aws_s3_bucket" "media" {
  bucket_prefix = "${var.name_prefix}-media-"
  force_destroy = var.force_destroy_bucket
  #checkov:skip=CKV_AWS_18:Access logging is the operator's choice of log bucket; CloudFront standard logs can be enabled on the distribution.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a durability choice outside this module; versioning is on.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES256) is used; a customer-managed KMS key would need a key policy granting CloudFront OAC decrypt, left to operators who need it.
  #checkov:skip=CKV2_AWS_62:Event notifications have no consumer in this design.
  #checkov:skip=CKV2_AWS_61:Lifecycle rules depend on the media's retention policy, which is the operator's.
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
    sid       = "CloudFrontOriginAccessControlOnly"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.media.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = var.emulator ? ["arn:${local.partition}:cloudfront::${local.account_id}:distribution/EMULATOR"] : [aws_cloudfront_distribution.media[0].arn]
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

resource "aws_s3_bucket_cors_configuration" "media" {
  count  = length(var.cors_allowed_origins) > 0 ? 1 : 0
  bucket = aws_s3_bucket.media.id
  cors_rule {
    allowed_methods = ["GET", "HEAD"]
    allowed_origins = var.cors_allowed_origins
    allowed_headers = ["*"]
    max_age_seconds = 3600
  }
}
