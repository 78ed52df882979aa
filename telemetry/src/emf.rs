//! Metrics to CloudWatch as Embedded Metric Format, from both Lambdas: install once, then
//! [`flush`] after each invocation. The document goes to stdout, the function's log, where
//! CloudWatch turns it into metrics in the `cfcookie` namespace with a `function` dimension.
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

/// The recorder, for `function`; `None` when another recorder is already installed.
pub fn install(function: &str) -> Option<&'static metrics_cloudwatch_embedded::Collector> {
    metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace("cfcookie")
        .with_dimension("function", function.to_owned())
        .init()
        .ok()
}

/// Writes the metrics gathered since the last flush as one EMF document on stdout.
pub fn flush(collector: Option<&'static metrics_cloudwatch_embedded::Collector>) {
    if let Some(c) = collector {
        if let Err(e) = c.flush(std::io::stdout()) {
            tracing::warn!(error = %e, "cannot write metrics");
        }
    }
}
