//! The built `cfcookie-endpoint` Lambda binary against a local Lambda Runtime API: what it
//! writes to its log (stdout) for one invocation.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::Router;

use crate::endpoint::{env, TokenMinter};
use crate::util::root;

/// The subset of the Lambda Runtime API the runtime client uses: one event, then nothing.
/// https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
#[derive(Clone, Default)]
struct RuntimeApi {
    event: Arc<Mutex<Option<String>>>,
    response: Arc<Mutex<Option<String>>>,
    done: Arc<tokio::sync::Notify>,
}

async fn next(State(api): State<RuntimeApi>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let event = api.event.lock().expect("lock").take();
    match event {
        Some(body) => (
            [
                ("lambda-runtime-aws-request-id", "req-1"),
                ("lambda-runtime-deadline-ms", "4102444800000"),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:eu-west-1:123456789012:function:cfcookie-endpoint",
                ),
                (
                    "lambda-runtime-trace-id",
                    "Root=1-5e1b4151-5ac6c58f5b5dbd6a5c3a4b5d",
                ),
                ("content-type", "application/json"),
            ],
            body,
        )
            .into_response(),
        // No second event: park the runtime until the test ends.
        None => std::future::pending().await,
    }
}

async fn respond(
    State(api): State<RuntimeApi>,
    Path(_id): Path<String>,
    body: String,
) -> &'static str {
    *api.response.lock().expect("lock") = Some(body);
    api.done.notify_one();
    ""
}

/// Runs the endpoint binary for one invocation of `event`; returns (its response, its log).
pub async fn invoke_once(event: String, extra_env: &[(&str, &str)]) -> (String, String) {
    let api = RuntimeApi::default();
    *api.event.lock().expect("lock") = Some(event);
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(respond),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(respond))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("stdout.log");
    let key = root().join("signer/tests/data/rsa2048.pkcs8.pem");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cfcookie-endpoint"))
        .env_clear()
        .envs(env(&[]))
        .env("CFCOOKIE_KEY_FILE", &key)
        .env("CFCOOKIE_KEY_PAIR_ID", "K2JCJMDEHXQW5F")
        .env("CFCOOKIE_JWKS_URL", "http://127.0.0.1:9/unreachable")
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "cfcookie-endpoint")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "eu-west-1")
        .envs(extra_env.iter().copied())
        .stdout(Stdio::from(std::fs::File::create(&log).expect("log")))
        .stderr(Stdio::from(
            std::fs::File::options()
                .append(true)
                .open(&log)
                .expect("log"),
        ))
        .spawn()
        .expect("cfcookie-endpoint");
    let answered = tokio::time::timeout(Duration::from_secs(60), api.done.notified()).await;
    // Metrics and logs are flushed when the invocation ends; give the process a moment to
    // write them before stopping it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();
    server.abort();
    let log = std::fs::read_to_string(&log).expect("log");
    answered
        .unwrap_or_else(|_| panic!("the endpoint never answered the invocation; its log:\n{log}"));
    let response = api
        .response
        .lock()
        .expect("lock")
        .clone()
        .unwrap_or_default();
    (response, log)
}

/// `RUST_LOG=trace` cannot make the Lambda runtime log the raw event (token and cookies).
#[tokio::test]
async fn lambda_runtime_never_logs_the_raw_event_even_at_trace() {
    let issuer = TokenMinter::new("kid-1");
    let token = issuer.token();
    let event = std::fs::read_to_string(root().join("tests/data/lambda/function_url.json"))
        .expect("payload")
        .replace("{{TOKEN}}", &token);
    let (response, log) = invoke_once(event, &[("RUST_LOG", "trace")]).await;
    assert!(response.contains("statusCode"), "{response}");
    assert!(
        log.contains("endpoint initialised"),
        "no log captured: {log}"
    );
    let signature = token.rsplit('.').next().expect("signature");
    assert!(
        !log.contains(signature) && !log.contains("raw JSON event"),
        "the raw event reached the log"
    );
}
