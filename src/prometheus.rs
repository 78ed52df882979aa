//! `--metrics-listen`: the endpoint's metrics for Prometheus, on a listener of their own.

/// Installs the Prometheus recorder (`cfcookie serve --metrics-listen`); the handle renders
/// the text format.
pub fn install_prometheus() -> Result<metrics_exporter_prometheus::PrometheusHandle, String> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    cfcookie_endpoint::metrics::describe();
    Ok(handle)
}

/// The `/metrics` listener's routes: Prometheus text and nothing else.
pub fn prometheus_router(handle: metrics_exporter_prometheus::PrometheusHandle) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    handle.render(),
                )
            }
        }),
    )
}
