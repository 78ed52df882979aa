//! Hosts: the plain HTTP server (`cfcookie serve`), and building the endpoint from the
//! environment for both hosts. The Lambda host is `src/bin/cfcookie-endpoint.rs`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::IntoResponse;
use axum::Router;
use cfcookie_rotator::sdk::{load_aws_config, SdkSecretStore};
use cfcookie_signer::{KeyGroup, Signer};

use crate::endpoint::{Endpoint, EndpointConfig, TokenVerifier};
use crate::keysource::{
    KeySource, KeyUnavailable, SecretKeySource, SecretsManagerReader, StaticKeySource,
};
use crate::token::{CognitoVerifier, HttpJwks};

/// Every AWS API call the endpoint makes, as IAM actions (the infra test holds the endpoint's
/// role to exactly these).
pub const ENDPOINT_API_CALLS: &[&str] = &["secretsmanager:GetSecretValue", "ssm:GetParameter"];

fn resource_parameter(env: &HashMap<String, String>) -> Option<String> {
    env.get("CFCOOKIE_RESOURCE_PARAMETER")
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

async fn read_resource_parameter(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<String, String> {
    let out = ssm.get_parameter().name(name).send().await.map_err(|e| {
        format!(
            "CFCOOKIE_RESOURCE_PARAMETER {name}: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&e)
        )
    })?;
    Ok(out
        .parameter()
        .and_then(|p| p.value())
        .unwrap_or_default()
        .to_owned())
}

/// Reads `CFCOOKIE_RESOURCE_PARAMETER` (SSM) into `CFCOOKIE_RESOURCE`. Terraform writes the
/// distribution's domain there after creating it: the endpoint's own environment cannot hold
/// it, because the distribution's origin is this function's URL.
async fn with_resource_parameter(
    env: &HashMap<String, String>,
) -> Result<HashMap<String, String>, String> {
    let mut env = env.clone();
    let Some(name) = resource_parameter(&env) else {
        return Ok(env);
    };
    let ssm = aws_sdk_ssm::Client::new(&load_aws_config().await);
    let value = read_resource_parameter(&ssm, &name).await?;
    env.insert("CFCOOKIE_RESOURCE".into(), value);
    Ok(env)
}

/// Re-reads `CFCOOKIE_RESOURCE_PARAMETER` every `period` (the key cache TTL, so a changed
/// domain reaches warm instances as fast as a new key does) and swaps a changed template into
/// `resource`. A new value is held to the start-up checks (the whole configuration is read again
/// with it); one that fails them, or a failed read, leaves the template in use and is logged.
pub fn spawn_resource_refresh(
    env: HashMap<String, String>,
    ssm: aws_sdk_ssm::Client,
    resource: crate::resource::SharedResource,
    period: Duration,
) -> Option<tokio::task::JoinHandle<()>> {
    let name = resource_parameter(&env)?;
    Some(tokio::spawn(async move {
        loop {
            tokio::time::sleep(period).await;
            refresh_resource(&env, &ssm, &name, &resource).await;
        }
    }))
}

/// One refresh of [`spawn_resource_refresh`]: reads the parameter and swaps in a changed,
/// valid template.
pub async fn refresh_resource(
    env: &HashMap<String, String>,
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    resource: &crate::resource::SharedResource,
) {
    let value = match read_resource_parameter(ssm, name).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "resource refresh failed; keeping the template in use");
            return;
        }
    };
    if resource == &value.as_str() {
        return;
    }
    let mut candidate = env.clone();
    candidate.insert("CFCOOKIE_RESOURCE".into(), value.clone());
    match EndpointConfig::from_map(&candidate) {
        Ok(_) => {
            tracing::info!(parameter = name, resource = %value, "resource template changed");
            resource.set(value);
        }
        Err(e) => {
            tracing::warn!(parameter = name, error = %e, "new resource template refused; keeping the one in use");
        }
    }
}

/// Logs the active key's age with every key refresh (`key_age_seconds`): infra turns the line
/// into a metric and alarms when the key is older than about two rotation intervals, which a
/// stopped rotation would otherwise never tell anyone.
fn spawn_key_age_log<R: crate::keysource::SecretReader + 'static>(
    source: Arc<SecretKeySource<R>>,
    period: Duration,
) {
    tokio::spawn(async move {
        loop {
            if let Some((key_id, active_from)) = source.current_key() {
                let age = crate::time::now() - active_from;
                tracing::info!(key_id = %key_id, key_age_seconds = age.max(0), "active key age");
            }
            tokio::time::sleep(period).await;
        }
    });
}

/// The key source the environment selects.
#[derive(Debug)]
pub enum AnyKeySource {
    /// `CFCOOKIE_KEY_FILE` + `CFCOOKIE_KEY_PAIR_ID`.
    File(StaticKeySource),
    /// `CFCOOKIE_SECRET_ID`.
    Secret(Arc<SecretKeySource<SecretsManagerReader<SdkSecretStore>>>),
}

impl KeySource for AnyKeySource {
    fn signer(&self, now: i64) -> Result<Arc<Signer>, KeyUnavailable> {
        match self {
            AnyKeySource::File(k) => k.signer(now),
            AnyKeySource::Secret(k) => k.signer(now),
        }
    }
    fn key_group(&self) -> KeyGroup {
        match self {
            AnyKeySource::File(k) => k.key_group(),
            AnyKeySource::Secret(k) => k.key_group(),
        }
    }
}

/// The endpoint as deployed: Cognito tokens, keys from Secrets Manager or a file.
pub type DeployedEndpoint = Endpoint<CognitoVerifier<HttpJwks>, AnyKeySource>;

/// Builds the endpoint from `CFCOOKIE_*` variables: loads the keys (and starts their background
/// refresh) and the JWKS before the first request.
pub async fn endpoint_from_env(env: &HashMap<String, String>) -> Result<DeployedEndpoint, String> {
    let env = &with_resource_parameter(env).await?;
    let (config, verifier_config) = EndpointConfig::from_map(env)?;
    let get = |k: &str| {
        env.get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let ttl = get("CFCOOKIE_KEY_CACHE_TTL")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(300)
        .max(1);
    let keys = match (get("CFCOOKIE_KEY_FILE"), get("CFCOOKIE_KEY_PAIR_ID"), get("CFCOOKIE_SECRET_ID")) {
        (Some(file), Some(id), _) => {
            let pass = get("CFCOOKIE_KEY_PASSPHRASE").map(String::into_bytes);
            AnyKeySource::File(StaticKeySource::from_file(std::path::Path::new(&file), &id, pass.as_deref())?)
        }
        (Some(_), None, _) => return Err("CFCOOKIE_KEY_FILE needs CFCOOKIE_KEY_PAIR_ID (its CloudFront public key id)".into()),
        (None, _, Some(secret)) => {
            let aws = load_aws_config().await;
            let source = Arc::new(SecretKeySource::new(SecretsManagerReader::new(SdkSecretStore::new(&aws), secret)));
            if let Err(e) = source.refresh().await {
                // Start anyway: requests get 503 until a refresh succeeds.
                tracing::error!(error = %e, "cannot load the signing keys yet");
            }
            source.spawn_refresh(Duration::from_secs(ttl));
            spawn_key_age_log(Arc::clone(&source), Duration::from_secs(ttl));
            AnyKeySource::Secret(source)
        }
        (None, _, None) => return Err("set CFCOOKIE_SECRET_ID (keys from Secrets Manager) or CFCOOKIE_KEY_FILE + CFCOOKIE_KEY_PAIR_ID".into()),
    };
    if resource_parameter(env).is_some() {
        let ssm = aws_sdk_ssm::Client::new(&load_aws_config().await);
        spawn_resource_refresh(
            env.clone(),
            ssm,
            config.resource.clone(),
            Duration::from_secs(ttl),
        );
    }
    let verifier = CognitoVerifier::new(verifier_config, HttpJwks);
    if let Err(e) = verifier.prefetch().await {
        tracing::warn!(error = %e, "cannot fetch the JWKS yet; will retry on the first token");
    }
    Ok(Endpoint {
        verifier,
        keys: Arc::new(keys),
        config,
        clock: Arc::new(crate::time::now),
    })
}

/// The Lambda host's adaptation: a `lambda_http` request (Function URL, API Gateway v1/v2,
/// ALB) to the endpoint and back. The path is the raw one: API Gateway REST puts its stage in
/// front of the path lambda_http reports (`/prod/cookie`), which the routes must not see.
pub async fn handle_lambda<V: TokenVerifier, K: KeySource>(
    endpoint: &Endpoint<V, K>,
    request: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    use lambda_http::RequestExt as _;
    let path = request.raw_http_path().to_owned();
    let (parts, _) = request.into_parts();
    let response = endpoint.handle(&parts.method, &path, &parts.headers).await;
    let (parts, body) = response.into_parts();
    lambda_http::Response::from_parts(parts, lambda_http::Body::from(body))
}

async fn endpoint_handler<V: TokenVerifier + 'static, K: KeySource + 'static>(
    State(endpoint): State<Arc<Endpoint<V, K>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> impl IntoResponse {
    endpoint.handle(&method, uri.path(), &headers).await
}

/// The endpoint's routes, as an axum router (other routes may be merged in, as `--dev` does).
pub fn router<V: TokenVerifier + 'static, K: KeySource + 'static>(
    endpoint: Arc<Endpoint<V, K>>,
) -> Router {
    Router::new()
        .fallback(endpoint_handler::<V, K>)
        .with_state(endpoint)
}

/// Serves `app` on `listener` until `shutdown` completes, then drains open requests.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    // Responses are small and leave in more than one segment: without TCP_NODELAY, Nagle's
    // algorithm and the client's delayed ACK leave both ends waiting between them.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}
