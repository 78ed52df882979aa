//! The rotation Lambda: `main` only wires; the handler lives in `cfcookie_rotator::lambda`.
#![forbid(unsafe_code)]

use cfcookie_rotator::lambda::{handle_event, Event};
use cfcookie_rotator::{sdk_rotator, Config};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let started = std::time::Instant::now();
    cfcookie_telemetry::logging::init_json(false);
    let emf = cfcookie_telemetry::emf::install("cfcookie-rotator");
    cfcookie_rotator::lambda::metric::describe();
    // The one read of the process environment.
    let env = cfcookie_config::Env::from_process();
    cfcookie_telemetry::logging::warn_unknown_settings(&env);
    let config = Config::from_settings(&env)?;
    let rotator = sdk_rotator(config).await;
    tracing::info!(
        init_ms = started.elapsed().as_secs_f64() * 1000.0,
        "rotator initialised"
    );
    let rotator = &rotator;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        let result = handle_event(rotator, &rotator.secrets, event.payload).await;
        cfcookie_telemetry::emf::flush(emf);
        result
    }))
    .await
}
