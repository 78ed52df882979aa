# A failed or stalled rotation reaches a person within minutes: EventBridge on Secrets Manager's
# RotationFailed, CloudWatch alarms on rotator errors, endpoint 5xx and a key older than about
# twice the rotation interval, all to one SNS topic.
#
# The topic is encrypted with a customer-managed key: CloudWatch alarms and EventBridge can only
# publish to an encrypted topic whose key policy grants them kms:GenerateDataKey* and
# kms:Decrypt, which the AWS-managed alias/aws/sns key's policy cannot be made to do
# (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).

data "aws_iam_policy_document" "alarms_key" {
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource means this key only; write access is the account's own administration of it.
  #checkov:skip=CKV_AWS_356:Same: in a key policy "*" is the key the policy is attached to.
  #checkov:skip=CKV_AWS_109:Same: the account administers its own key, as KMS's default key policy does.
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
  statement {
    # Condition keys are left off on purpose: EventBridge's KMS requests carry no
    # aws:SourceAccount/aws:SourceArn, so a condition on them would drop every notification
    # (same SNS page as above).
    sid       = "AlarmPublishers"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "alarms" {
  description             = "${var.name_prefix} cfcookie alarm topic (CloudWatch and EventBridge may publish)"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.alarms_key.json
}

resource "aws_kms_alias" "alarms" {
  name          = "alias/${var.name_prefix}-cfcookie-alarms"
  target_key_id = aws_kms_key.alarms.key_id
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-cfcookie-alarms"
  kms_master_key_id = aws_kms_key.alarms.arn
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

# Lambda's own metrics (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html):
# Errors counts failed invocations, Url5xxCount the function URL's 5xx answers.
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

# Key age, from a check that runs on a schedule, not from viewer traffic
# (docs/decisions/0005-key-age-check.md). EventBridge Scheduler invokes the rotator every
# 15 minutes with {"Check": "keyAge", "SecretId": ...}; the rotator reads the AWSCURRENT
# version's CreatedDate and writes its age as the EMF gauge signing_key_age_seconds (namespace
# cfcookie, dimensions function and secret), fails (Rotation.NotEnabled, the rotator-errors
# alarm) when rotation is off, and runs the canary once the current key's active_from has
# passed. CloudWatch evaluates an alarm over at most seven days
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html,
# Period), shorter than most rotation intervals, so "no rotation succeeded lately" cannot be an
# alarm; a gauge can.

data "aws_iam_policy_document" "key_check_assume" {
  # Scheduler's execution role, for this account's schedules only (confused deputy):
  # https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "key_check" {
  name               = "${var.name_prefix}-cfcookie-key-check"
  assume_role_policy = data.aws_iam_policy_document.key_check_assume.json
}

data "aws_iam_policy_document" "key_check" {
  statement {
    sid       = "InvokeTheRotatorOnly"
    actions   = ["lambda:InvokeFunction"]
    resources = [module.rotator.function_arn]
  }
}

resource "aws_iam_role_policy" "key_check" {
  name   = "invoke-rotator"
  role   = aws_iam_role.key_check.id
  policy = data.aws_iam_policy_document.key_check.json
}

resource "aws_scheduler_schedule" "key_check" {
  #checkov:skip=CKV_AWS_297:The schedule's input is the secret's ARN and a check name, nothing secret; a customer-managed key would only add a key policy for Scheduler.
  name                = "${var.name_prefix}-cfcookie-key-check"
  description         = "cfcookie: the signing key's age, rotation on, and the canary, without viewer traffic"
  schedule_expression = local.key_check_schedule
  flexible_time_window {
    mode = "OFF"
  }
  target {
    arn      = module.rotator.function_arn
    role_arn = aws_iam_role.key_check.arn
    input    = jsonencode({ Check = "keyAge", SecretId = aws_secretsmanager_secret.signing_key.arn })
    retry_policy {
      # The next run comes in 15 minutes; a retry would only double a failure's error count.
      maximum_retry_attempts = 0
    }
  }
  depends_on = [aws_iam_role_policy.key_check]
}

# Maximum of the hour's checks above twice the rotation interval: rotation has stopped, or never
# began (the placeholder version ages from deploy). No data for an hour after there was some:
# the check itself stopped (schedule, role or function broken), INSUFFICIENT_DATA, which pages
# too. A new alarm starts in INSUFFICIENT_DATA without notifying: actions run on transitions
# "from any other state" (PutMetricAlarm, InsufficientDataActions), so a deploy pages no one.
resource "aws_cloudwatch_metric_alarm" "key_too_old" {
  alarm_name                = "${var.name_prefix}-cfcookie-key-too-old"
  alarm_description         = "The signing key is older than twice the rotation interval (rotation has stopped), or the scheduled key check stopped reporting (docs/rotation.md)."
  namespace                 = "cfcookie"
  metric_name               = "signing_key_age_seconds"
  dimensions                = { function = "cfcookie-rotator", secret = aws_secretsmanager_secret.signing_key.name }
  statistic                 = "Maximum"
  period                    = 3600
  evaluation_periods        = 1
  threshold                 = local.key_age_alarm_seconds
  comparison_operator       = "GreaterThanThreshold"
  treat_missing_data        = "missing"
  alarm_actions             = [aws_sns_topic.alarms.arn]
  insufficient_data_actions = [aws_sns_topic.alarms.arn]
}
