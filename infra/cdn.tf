# The distribution: media behind signed cookies; /cookie* to the endpoint, uncached.

locals {
  # AWS managed policies (fixed ids, documented by CloudFront).
  cache_policy_optimized      = "658327ea-f89d-4fab-a63d-7e88639e58f6" # Managed-CachingOptimized
  cache_policy_disabled       = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad" # Managed-CachingDisabled
  origin_request_all_but_host = "b689b0a8-53d0-40ab-baf2-68738e2966ac" # Managed-AllViewerExceptHostHeader
  response_headers_security   = "67f7725c-6f97-4210-82d7-5512b31e9d03" # Managed-SecurityHeadersPolicy
  endpoint_origin_domain      = trimsuffix(trimprefix(aws_lambda_function_url.endpoint.function_url, "https://"), "/")
  error_documents             = var.json_error_responses ? { "403" = "forbidden", "404" = "not_found" } : {}
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

resource "aws_s3_object" "error_document" {
  for_each      = local.error_documents
  bucket        = aws_s3_bucket.media.id
  key           = "errors/${each.key}.json"
  content       = jsonencode({ error = each.value, message = each.key == "403" ? "sign in to get access (GET /cookie)" : "no such object" })
  content_type  = "application/json"
  cache_control = "no-store"
  # Written once versioning and encryption are on: an object written before would keep a
  # "null" version outside the bucket's versioning.
  depends_on = [aws_s3_bucket_versioning.media, aws_s3_bucket_server_side_encryption_configuration.media]
}

resource "aws_cloudfront_distribution" "media" {
  count           = var.emulator ? 0 : 1
  enabled         = true
  is_ipv6_enabled = true
  http_version    = "http2and3"
  comment         = "${var.name_prefix}: private media behind CloudFront signed cookies (cfcookie)"
  price_class     = var.price_class
  aliases         = var.domain_name != null ? [var.domain_name] : []
  web_acl_id      = var.web_acl_id

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
    response_headers_policy_id = local.response_headers_security
    trusted_key_groups         = [aws_cloudfront_key_group.signers.id]
  }

  ordered_cache_behavior {
    path_pattern             = "cookie*"
    target_origin_id         = "cookie-endpoint"
    viewer_protocol_policy   = "https-only"
    allowed_methods          = ["GET", "HEAD", "OPTIONS"]
    cached_methods           = ["GET", "HEAD"]
    compress                 = true
    cache_policy_id          = local.cache_policy_disabled
    origin_request_policy_id = local.origin_request_all_but_host
  }

  dynamic "ordered_cache_behavior" {
    for_each = var.json_error_responses ? [1] : []
    content {
      path_pattern               = "errors/*"
      target_origin_id           = "media"
      viewer_protocol_policy     = "redirect-to-https"
      allowed_methods            = ["GET", "HEAD"]
      cached_methods             = ["GET", "HEAD"]
      compress                   = true
      cache_policy_id            = local.cache_policy_optimized
      response_headers_policy_id = local.response_headers_security
    }
  }

  dynamic "custom_error_response" {
    for_each = local.error_documents
    content {
      error_code            = tonumber(custom_error_response.key)
      response_code         = tonumber(custom_error_response.key)
      response_page_path    = "/errors/${custom_error_response.key}.json"
      error_caching_min_ttl = 10
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = var.acm_certificate_arn == null
    acm_certificate_arn            = var.acm_certificate_arn
    ssl_support_method             = var.acm_certificate_arn == null ? null : "sni-only"
    minimum_protocol_version       = var.acm_certificate_arn == null ? "TLSv1" : "TLSv1.2_2021"
  }

  #checkov:skip=CKV_AWS_86:Standard logging needs a log bucket the operator chooses; enable it there.
  #checkov:skip=CKV_AWS_68:A WAF web ACL is optional (variable web_acl_id); signed cookies already gate the content.
  #checkov:skip=CKV2_AWS_47:Same: WAF is optional.
  #checkov:skip=CKV_AWS_174:With the default *.cloudfront.net certificate CloudFront fixes the minimum TLS version; with acm_certificate_arn it is TLSv1.2_2021.
  #checkov:skip=CKV2_AWS_42:A custom certificate is optional (domain_name + acm_certificate_arn).
  #checkov:skip=CKV_AWS_310:Origin failover needs a second bucket; out of scope.
  #checkov:skip=CKV_AWS_305:There is no index document: every object is private media.
  #checkov:skip=CKV_AWS_374:Geo restriction is a business decision, not a security default.
  #checkov:skip=CKV2_AWS_32:The media and error behaviors carry the managed SecurityHeadersPolicy; the cookie behavior answers JSON with Cache-Control: no-store set by the endpoint.
}
