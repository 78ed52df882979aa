//! Log set-up for the two Lambdas: JSON lines, `RUST_LOG` for the level (default info), except
//! that the Lambda runtime crates and the HTTP clients and servers never log below info
//! whatever `RUST_LOG` says: at trace, `lambda_runtime` logs each raw event (the endpoint's
//! events carry tokens and cookies), ureq dumps every request line and header (the canary's
//! `Cookie` header: signed cookies), and the AWS SDK's orchestrator logs each request with its
//! body (`PutSecretValue`'s holds the private key). The CLI's filter is this one too.

use tracing_subscriber::filter::{EnvFilter, FilterExt as _, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

/// Crates whose debug and trace events may hold a whole event, request or response: the Lambda
/// runtime, the HTTP clients (ureq for the canary and the JWKS, the SDK's hyper stack) and
/// servers (`serve`'s hyper), and the SDK's request orchestration and signing.
pub const CAPPED_AT_INFO: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "ureq",
    "ureq_proto",
    "hyper",
    "hyper_util",
    "h2",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_sigv4",
];

/// The filter: `RUST_LOG` (or `default`), and at most info for [`CAPPED_AT_INFO`].
pub fn filter(
    rust_log: Option<&str>,
    default: &str,
) -> impl tracing_subscriber::layer::Filter<tracing_subscriber::Registry> {
    let env = rust_log
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let cap = CAPPED_AT_INFO.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |t, target| t.with_target(*target, LevelFilter::INFO),
    );
    env.and(cap)
}

/// Human-readable lines on stderr (the CLI), level from `RUST_LOG`, default `default`, with the
/// same caps as [`init_json`].
pub fn init_text(default: &str) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter(rust_log.as_deref(), default));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// JSON lines on stdout (the Lambda log), level from `RUST_LOG`, default info.
pub fn init_json(with_time: bool) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_ansi(false);
    let filter = filter(rust_log.as_deref(), "info");
    let layer = if with_time {
        layer.with_filter(filter).boxed()
    } else {
        layer.without_time().with_filter(filter).boxed()
    };
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// One warning per `CFCOOKIE_*` variable that is not a setting (a typo, or a setting of
/// another component), from the binaries' entry points, once.
pub fn warn_unknown_settings(env: &cfcookie_config::Env) {
    for line in env.unknown_warnings() {
        tracing::warn!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn trace_everywhere_still_stops_the_runtime_at_info() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .with_writer(move || writer.clone())
            .with_filter(filter(Some("trace"), "info"));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "cfcookie::endpoint", "ours at trace");
            tracing::info!(target: "lambda_runtime::layers", "runtime at info");
            tracing::trace!(target: "lambda_runtime::layers::api_response", body = "TOKEN", "raw JSON event received from Lambda");
            tracing::debug!(target: "lambda_http", "runtime at debug");
            tracing::trace!(target: "ureq_proto::util", "cookie: CloudFront-Signature=WIRE");
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "transmitting request BODY");
            tracing::debug!(target: "hyper::proto::h1::role", "HYPER");
        });
        let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(
            out.contains("ours at trace") && out.contains("runtime at info"),
            "{out}"
        );
        assert!(
            !out.contains("TOKEN") && !out.contains("runtime at debug"),
            "{out}"
        );
        for wire in ["WIRE", "BODY", "HYPER"] {
            assert!(!out.contains(wire), "{wire}: {out}");
        }
    }
}
