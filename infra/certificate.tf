# The certificate for domain_name. CloudFront takes certificates from ACM in us-east-1 only
# (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cnames-and-https-requirements.html).
# Either Terraform requests one with DNS validation (and writes the validation record when
# route53_zone_id is given), or acm_certificate_arn names an issued one that covers domain_name
# (exactly, as a subject alternative name, or by a wildcard).

locals {
  request_certificate = var.domain_name != null && var.acm_certificate_arn == null
  certificate_arn = (
    var.domain_name == null ? null :
    var.acm_certificate_arn != null ? var.acm_certificate_arn :
    aws_acm_certificate_validation.media[0].certificate_arn
  )
}

resource "aws_acm_certificate" "media" {
  count             = local.request_certificate ? 1 : 0
  provider          = aws.us_east_1
  domain_name       = var.domain_name
  validation_method = "DNS"
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "certificate_validation" {
  for_each = local.request_certificate && var.route53_zone_id != null ? {
    for o in aws_acm_certificate.media[0].domain_validation_options : o.domain_name => o
  } : {}
  zone_id         = var.route53_zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

# Waits until ACM has issued the certificate: with route53_zone_id that is minutes; without,
# it waits for the CNAME shown by `terraform output certificate_validation_records`
# (docs/deploy.md, "Your own domain").
resource "aws_acm_certificate_validation" "media" {
  count                   = local.request_certificate ? 1 : 0
  provider                = aws.us_east_1
  certificate_arn         = aws_acm_certificate.media[0].arn
  validation_record_fqdns = var.route53_zone_id != null ? [for r in aws_route53_record.certificate_validation : r.fqdn] : null
}

# acm_certificate_arn given: no lookup by name. ACM's data source matches only a certificate's
# primary DomainName, exactly (internal/service/acm/certificate_data_source.go), so it refused a
# wildcard or SAN certificate that covers domain_name, and with most_recent it picked the newest
# of several and refused the one named. CloudFront itself refuses a certificate that does not
# cover the alias, when the distribution is created or updated
# (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/CNAMEs.html#alternate-domain-names-requirements);
# the variable's validation checks the ARN's shape (variables.tf).

# The alias record, when the zone is in Route 53.
resource "aws_route53_record" "media" {
  for_each = var.domain_name != null && var.route53_zone_id != null ? toset(["A", "AAAA"]) : toset([])
  zone_id  = var.route53_zone_id
  name     = var.domain_name
  type     = each.key
  alias {
    name                   = aws_cloudfront_distribution.media.domain_name
    zone_id                = aws_cloudfront_distribution.media.hosted_zone_id
    evaluate_target_health = false
  }
}
