//! Log set-up. Log lines carry methods, paths, statuses, key ids and reasons; never tokens,
//! cookies, signatures or key material (a test scans them).

/// JSON lines for Lambda and servers (`RUST_LOG` sets the level; default info; the Lambda
/// runtime crates stay at info or above, see `cfcookie_telemetry::logging`).
pub fn init_json() {
    cfcookie_telemetry::logging::init_json(true);
}

pub use cfcookie_telemetry::logging::warn_unknown_settings;

/// Human-readable lines on stderr for the CLI (default warn), the HTTP and Lambda crates capped
/// at info as in the Lambdas (`cfcookie rotate` runs the canary and the SDK in process).
pub fn init_cli() {
    cfcookie_telemetry::logging::init_text("warn");
}
