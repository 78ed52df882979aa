//! Log set-up. Log lines carry methods, paths, statuses, key ids and reasons; never tokens,
//! cookies, signatures or key material (a test scans them).

/// JSON lines for Lambda and servers (`RUST_LOG` sets the level; default info; the Lambda
/// runtime crates stay at info or above, see `cfcookie_rotator::logging`).
pub fn init_json() {
    cfcookie_rotator::logging::init_json(true);
}

/// Human-readable lines on stderr for the CLI (default warn).
pub fn init_cli() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
}
