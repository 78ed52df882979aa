//! The cookie endpoint as a Lambda (function URL, API Gateway v1/v2, ALB events). `main` only
//! wires; the behaviour is `cfcookie_endpoint::Endpoint::handle`, shared with `cfcookie serve`,
//! reached through `cfcookie::lambda::handle_lambda`.
#![forbid(unsafe_code)]

use std::sync::Arc;

use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    cfcookie::logging::init_json();
    let emf = cfcookie_telemetry::emf::install("cfcookie-endpoint");
    cfcookie_endpoint::metrics::describe();
    let env = cfcookie_config::Env::from_process();
    cfcookie::logging::warn_unknown_settings(&env);
    let endpoint = Arc::new(cfcookie_endpoint::wiring::endpoint_from(&env).await?);
    tracing::info!(
        init_ms = started.elapsed().as_secs_f64() * 1000.0,
        "endpoint initialised"
    );
    let endpoint = &endpoint;
    lambda_http::run(service_fn(move |req: Request| async move {
        let response = cfcookie::lambda::handle_lambda(endpoint, req).await;
        cfcookie_telemetry::emf::flush(emf);
        Ok::<_, Error>(response)
    }))
    .await
}
