# A failed rotation reaches a person within minutes: EventBridge on Secrets Manager's
# RotationFailed, CloudWatch alarms on rotator errors and endpoint 5xx, all to one SNS topic.

resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-cfcookie-alarms"
  kms_master_key_id = "alias/aws/sns"
}

data "aws_iam_policy_document" "alarms_topic" {
  statement {
    sid       = "EventBridgeAndCloudWatch"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms_topic.json
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email != null ? 1 : 0
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_event_rule" "rotation_failed" {
  name        = "${var.name_prefix}-cfcookie-rotation-failed"
  description = "Secrets Manager could not rotate the cfcookie signing key"
  event_pattern = jsonencode({
    source        = ["aws.secretsmanager"]
    "detail-type" = ["AWS Service Event via CloudTrail"]
    detail = {
      eventName           = ["RotationFailed", "RotationAbandoned"]
      additionalEventData = { SecretId = [aws_secretsmanager_secret.signing_key.arn] }
    }
  })
}

resource "aws_cloudwatch_event_target" "rotation_failed" {
  rule      = aws_cloudwatch_event_rule.rotation_failed.name
  target_id = "alarm-topic"
  arn       = aws_sns_topic.alarms.arn
}

resource "aws_cloudwatch_metric_alarm" "rotator_errors" {
  alarm_name          = "${var.name_prefix}-cfcookie-rotator-errors"
  alarm_description   = "The rotation Lambda failed a step (see its log for the Rotation.* error type and docs/rotation.md)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = module.rotator.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "endpoint_5xx" {
  alarm_name          = "${var.name_prefix}-cfcookie-endpoint-5xx"
  alarm_description   = "The cookie endpoint answered 5xx (503: no key loaded or JWKS unreachable)."
  namespace           = "AWS/Lambda"
  metric_name         = "Url5xxCount"
  dimensions          = { FunctionName = module.endpoint.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 5
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}
