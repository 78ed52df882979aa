# The distribution: media behind signed cookies; /cookie and /cookie/* to the endpoint, uncached.

locals {
  # AWS managed policies (fixed ids, documented by CloudFront:
  # https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html,
  # .../using-managed-origin-request-policies.html).
  cache_policy_optimized      = "658327ea-f89d-4fab-a63d-7e88639e58f6" # Managed-CachingOptimized
  cache_policy_disabled       = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad" # Managed-CachingDisabled
  origin_request_all_but_host = "b689b0a8-53d0-40ab-baf2-68738e2966ac" # Managed-AllViewerExceptHostHeader
  endpoint_origin_domain      = trimsuffix(trimprefix(aws_lambda_function_url.endpoint.function_url, "https://"), "/")
  # The endpoint serves exactly /cookie and /cookie/… ; a pattern like cookie* would also send
  # /cookies/… or /cookie-jar.png to it.
  cookie_paths = ["/cookie", "/cookie/*"]
}

resource "aws_cloudfront_origin_access_control" "s3" {
  name                              = "${var.name_prefix}-media-s3"
  description                       = "CloudFront reads the media bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_origin_access_control" "endpoint" {
  name                              = "${var.name_prefix}-cookie-endpoint"
  description                       = "CloudFront invokes the cookie endpoint's function URL (AWS_IAM)"
  origin_access_control_origin_type = "lambda"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

# Security headers on every media answer, and CORS for the apps in cors_allowed_origins.
# CloudFront answers CORS itself (origin_override), so S3 need not see Origin and the cache key
# stays as it is. Only simple requests work cross-origin (GET/HEAD without custom headers, e.g.
# <img crossorigin="use-credentials">): a browser sends a preflight without cookies
# (https://fetch.spec.whatwg.org/#cors-preflight-fetch), and a behavior that trusts a key group
# refuses any request without them.
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/understanding-response-headers-policies.html
resource "aws_cloudfront_response_headers_policy" "media" {
  name    = "${var.name_prefix}-cfcookie-media"
  comment = "security headers; CORS with credentials for the configured app origins"
  security_headers_config {
    content_type_options {
      override = true
    }
    frame_options {
      frame_option = "SAMEORIGIN"
      override     = true
    }
    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = true
    }
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
  }
  dynamic "cors_config" {
    for_each = length(var.cors_allowed_origins) > 0 ? [1] : []
    content {
      access_control_allow_credentials = true
      access_control_allow_headers {
        items = ["range"]
      }
      access_control_allow_methods {
        items = ["GET", "HEAD"]
      }
      access_control_allow_origins {
        items = var.cors_allowed_origins
      }
      access_control_expose_headers {
        items = ["ETag", "Content-Length", "Content-Range"]
      }
      access_control_max_age_sec = 3600
      origin_override            = true
    }
  }
}

resource "aws_cloudfront_distribution" "media" {
  enabled         = true
  is_ipv6_enabled = true
  http_version    = "http2and3"
  comment         = "${var.name_prefix}: private media behind CloudFront signed cookies (cfcookie)"
  price_class     = var.price_class
  aliases         = var.domain_name != null ? [var.domain_name] : []
  web_acl_id      = var.web_acl_id
  # "/" must never reach S3 as a bucket listing: the OAC may list the bucket (storage.tf) so
  # that a missing key answers 404.
  default_root_object = "index.html"

  origin {
    origin_id                = "media"
    domain_name              = aws_s3_bucket.media.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.s3.id
  }

  origin {
    origin_id                = "cookie-endpoint"
    domain_name              = local.endpoint_origin_domain
    origin_access_control_id = aws_cloudfront_origin_access_control.endpoint.id
    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }
  }

  default_cache_behavior {
    target_origin_id           = "media"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = local.cache_policy_optimized
    response_headers_policy_id = aws_cloudfront_response_headers_policy.media.id
    trusted_key_groups         = [aws_cloudfront_key_group.signers.id]
  }

  # No custom_error_response: error pages apply to every behavior of the distribution
  # (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/GeneratingCustomErrorResponses.html),
  # so they would replace the endpoint's own 401/403/404 bodies, and their error caching would
  # keep one user's refusal for the next viewer on the same edge.
  dynamic "ordered_cache_behavior" {
    for_each = local.cookie_paths
    content {
      path_pattern           = ordered_cache_behavior.value
      target_origin_id       = "cookie-endpoint"
      viewer_protocol_policy = "https-only"
      # Sign-out is `POST /cookie/remove` (a GET would let any page sign users out). CloudFront
      # takes only three method sets, and POST comes with all seven; the endpoint answers 405
      # to the methods it does not serve.
      # https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesCacheBehavior.html#DownloadDistValuesAllowedHTTPMethods
      allowed_methods          = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
      cached_methods           = ["GET", "HEAD"]
      compress                 = true
      cache_policy_id          = local.cache_policy_disabled
      origin_request_policy_id = local.origin_request_all_but_host
    }
  }

  # Optional public paths of the bucket (an app's own pages on the media site): no trusted key
  # groups, so CloudFront serves them to anyone; every other path of the bucket stays behind the
  # protected default behavior.
  # https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesCacheBehavior.html#DownloadDistValuesPathPattern
  dynamic "ordered_cache_behavior" {
    for_each = var.public_paths
    content {
      path_pattern               = ordered_cache_behavior.value
      target_origin_id           = "media"
      viewer_protocol_policy     = "redirect-to-https"
      allowed_methods            = ["GET", "HEAD", "OPTIONS"]
      cached_methods             = ["GET", "HEAD"]
      compress                   = true
      cache_policy_id            = local.cache_policy_optimized
      response_headers_policy_id = aws_cloudfront_response_headers_policy.media.id
    }
  }

  dynamic "logging_config" {
    for_each = var.access_logs ? [1] : []
    content {
      bucket          = aws_s3_bucket.logs[0].bucket_domain_name
      prefix          = "cloudfront/"
      include_cookies = false
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = local.certificate_arn == null
    acm_certificate_arn            = local.certificate_arn
    ssl_support_method             = local.certificate_arn == null ? null : "sni-only"
    minimum_protocol_version       = local.certificate_arn == null ? "TLSv1" : "TLSv1.2_2021"
  }

  # CloudFront refuses a log bucket whose ACLs are disabled (it delivers standard logs through
  # an ACL grant): the ownership controls that turn them on must be in place before the
  # distribution names the bucket, or a fresh apply races them.
  # https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logging-legacy-s3.html
  depends_on = [aws_s3_bucket_ownership_controls.logs]

  #checkov:skip=CKV_AWS_86:Standard logging is optional (access_logs = true creates a log bucket).
  #checkov:skip=CKV_AWS_68:A WAF web ACL is optional (variable web_acl_id); signed cookies already gate the content.
  #checkov:skip=CKV2_AWS_47:Same: WAF is optional.
  #checkov:skip=CKV_AWS_174:With the default *.cloudfront.net certificate CloudFront fixes the minimum TLS version; with a certificate it is TLSv1.2_2021.
  #checkov:skip=CKV2_AWS_42:A custom certificate is optional (domain_name).
  #checkov:skip=CKV_AWS_310:Origin failover needs a second bucket; out of scope.
  #checkov:skip=CKV_AWS_374:Geo restriction is a business decision, not a security default.
  #checkov:skip=CKV2_AWS_32:The media behavior carries a response headers policy; the cookie behaviors answer JSON with Cache-Control: no-store set by the endpoint.
}
