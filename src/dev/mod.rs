//! `cfcookie serve --dev`: the whole flow on one machine, no AWS account.
//!
//! - a key ring in a local directory (`current.json`, `previous.json`, in the secret format),
//!   rotated by `cfcookie rotate --dev` and picked up within seconds;
//! - a dev token issuer: a JWKS and a sign-in that mints RS256 tokens shaped like Cognito
//!   access tokens, verified by the same [`CognitoVerifier`] as in production (over HTTP);
//! - `/cookie` and `/cookie/remove` (the real endpoint);
//! - `/private/…`: a content folder guarded by the signer's CloudFront-equivalent verification
//!   (403 with the reason in `X-Cfcookie-Refusal`);
//! - `/`: a page that walks sign in → cookies → protected image → sign out → refused.

//!
//! Each job has its module: `ring` (the keys), `issuer` (tokens), `content` (the guarded
//! folder), `inspect` (what the page shows); this one holds the options, the app and the
//! guard every route that changes something shares.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use cfcookie_config::{self as config, Env};
use cfcookie_secret::{Clock as _, SystemClock};

use cfcookie_endpoint::{CognitoVerifier, HttpJwks};
use cfcookie_endpoint::{Endpoint, EndpointConfig};
use cfcookie_endpoint::{KeySource as _, SecretKeySource};

mod content;
mod inspect;
mod issuer;
mod ring;

pub use issuer::DEV_CLIENT_ID;
pub use ring::DevKeyRing;

/// Options of `serve --dev`.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// Where keys and the issuer key live.
    pub state_dir: PathBuf,
    /// The folder served under `/private/`.
    pub content_dir: Option<PathBuf>,
    /// Seconds a dev token lives.
    pub token_lifetime: i64,
    /// The only groups the sign-in grants (`CFCOOKIE_DEV_GROUPS`).
    pub groups: Vec<String>,
    /// Listen beyond loopback (`--dev-allow-remote`, `CFCOOKIE_DEV_ALLOW_REMOTE`).
    pub allow_remote: bool,
    /// `--header-timeout`, `CFCOOKIE_HEADER_TIMEOUT`.
    pub header_timeout: Duration,
    /// The endpoint settings `serve --dev` honours, as set (see [`ignored_settings`]).
    pub passed_through: Env,
    /// `CFCOOKIE_ACTIVATION_DELAY`: the page's "rotate now" waits as long as `rotate --dev`.
    pub activation_delay: i64,
}

impl DevOptions {
    /// Options from the settings (`CFCOOKIE_DEV_GROUPS`, `CFCOOKIE_DEV_ALLOW_REMOTE`,
    /// `CFCOOKIE_ACTIVATION_DELAY` and the endpoint settings dev mode honours) and the header
    /// timeout `serve` resolved from its flag and `CFCOOKIE_HEADER_TIMEOUT`; the command line's
    /// other flags are laid over them by the caller.
    pub fn new(
        state_dir: PathBuf,
        env: &Env,
        header_timeout: Duration,
    ) -> Result<DevOptions, cfcookie_config::ConfigError> {
        let mut passed_through = Env::from_pairs(std::iter::empty());
        for setting in PASSED_THROUGH {
            if let Some(v) = env.text(setting).filter(|_| env.is_set(setting)) {
                passed_through.set(setting, v);
            }
        }
        Ok(DevOptions {
            state_dir,
            content_dir: None,
            token_lifetime: 3600,
            groups: env.list(&config::DEV_GROUPS),
            allow_remote: env.bool(&config::DEV_ALLOW_REMOTE)?,
            header_timeout,
            activation_delay: env.seconds(&config::ACTIVATION_DELAY)?,
            passed_through,
        })
    }
}

/// The production settings `serve --dev` does not read (it brings its own issuer, keys and
/// resource); each one set is named in a warning so nobody believes it applies.
pub fn ignored_settings(env: &Env) -> Vec<&'static str> {
    cfcookie_config::ALL
        .iter()
        .filter(|s| {
            s.components.contains(&cfcookie_config::Component::Endpoint)
                && !PASSED_THROUGH.iter().any(|p| p.variable == s.variable)
                && env.is_set(s)
        })
        .map(|s| s.variable)
        .collect()
}

/// Endpoint settings `serve --dev` honours.
const PASSED_THROUGH: [&cfcookie_config::Setting; 4] = [
    &config::COOKIE_LIFETIME,
    &config::SAME_SITE,
    &config::HASH_ALGORITHM,
    &config::REQUIRED_GROUPS,
];

struct DevState {
    minter: issuer::TokenMinter,
    keys: Arc<SecretKeySource<DevKeyRing>>,
    content: PathBuf,
    token_lifetime: i64,
    groups: Vec<String>,
    /// The origins of this server's own page.
    origins: Vec<String>,
    ring: DevKeyRing,
    activation_delay: i64,
    /// Cookie lifetime + key cache TTL: how long after a key's activation its predecessor's
    /// cookies may still be in use, so the earliest the predecessor may leave the group.
    predecessor_needed_for: i64,
}

/// Builds the dev app (routes and endpoint) for a server that will listen on `addr`.
pub async fn app(addr: SocketAddr, options: &DevOptions) -> Result<Router, String> {
    let state_dir = &options.state_dir;
    std::fs::create_dir_all(state_dir).map_err(|e| format!("{}: {e}", state_dir.display()))?;
    let ring = DevKeyRing::new(state_dir);
    ring.ensure()?;
    let keys = Arc::new(SecretKeySource::new(ring));
    keys.refresh().await.map_err(|e| e.to_string())?;
    keys.spawn_refresh(Duration::from_secs(2));
    let content = content::folder(state_dir, options.content_dir.as_ref())?;
    let base = format!("http://{addr}");
    let issuer_url = format!("{base}/dev");
    let hosts = format!("{addr},localhost:{},127.0.0.1:{}", addr.port(), addr.port());
    let origins = hosts.split(',').map(|h| format!("http://{h}")).collect();
    let mut env = Env::from_pairs([
        (config::ISSUER.variable, issuer_url.as_str()),
        (
            config::JWKS_URL.variable,
            &format!("{base}/dev/.well-known/jwks.json"),
        ),
        (config::CLIENT_IDS.variable, DEV_CLIENT_ID),
        (config::RESOURCE.variable, "http://{host}/private/*"),
        (config::ALLOWED_HOSTS.variable, &hosts),
    ]);
    for setting in PASSED_THROUGH {
        if let Some(v) = options.passed_through.text(setting) {
            env.set(setting, v);
        }
    }
    let (config, verifier_config) = EndpointConfig::from_env(&env).map_err(|e| e.to_string())?;
    // The dev key source re-reads the ring every 2 s (its cache TTL).
    let config_lifetime = config.cookie_lifetime;
    let endpoint = Arc::new(Endpoint {
        verifier: CognitoVerifier::new(verifier_config, HttpJwks),
        keys: keys.clone(),
        config,
        clock: Arc::new(SystemClock),
    });
    let state = Arc::new(DevState {
        minter: issuer::TokenMinter::load(state_dir, issuer_url)?,
        keys,
        content,
        token_lifetime: options.token_lifetime,
        groups: options.groups.clone(),
        origins,
        ring: DevKeyRing::new(state_dir),
        activation_delay: options.activation_delay,
        predecessor_needed_for: config_lifetime + 2,
    });
    let dev = Router::new()
        .route("/", get(page))
        .route("/dev/.well-known/jwks.json", get(issuer::jwks))
        .route("/dev/token", post(issuer::token))
        .route("/dev/keys", get(inspect::key_ring))
        .route("/dev/rotate", post(inspect::rotate_now))
        .route("/dev/cookies", get(inspect::cookies_seen))
        .route("/private/{*path}", get(content::private))
        .with_state(state);
    Ok(dev.merge(crate::serve::router(endpoint)))
}

async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

/// The Host the browser asked for.
fn host(headers: &HeaderMap) -> &str {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
}

/// The decision `cfcookie edge` makes on a request for `path` under a behavior that trusts
/// the key group: signed cookies, or a signed URL when the query carries one.
fn edge_decision(
    s: &DevState,
    peer: SocketAddr,
    headers: &HeaderMap,
    path: &str,
    query: Option<&str>,
) -> Result<cfcookie_signer::Grant, cfcookie_signer::Refusal> {
    let viewer = cfcookie_edge::Viewer {
        site: &format!("http://{}", host(headers)),
        path,
        query: query.unwrap_or(""),
        headers,
        ip: peer.ip(),
    };
    cfcookie_edge::authorize(&s.keys.key_group(), &viewer, SystemClock.epoch())
}

/// The dev routes that change something answer only a caller on this machine, and not
/// another site's page in the user's browser (its requests carry its Origin).
fn local_page_only(s: &DevState, peer: SocketAddr, headers: &HeaderMap) -> Option<Response> {
    if !peer.ip().is_loopback() {
        return Some(
            (
                StatusCode::FORBIDDEN,
                "the dev server answers this machine only\n",
            )
                .into_response(),
        );
    }
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if origin.is_some_and(|origin| !s.origins.iter().any(|o| o == origin)) {
        return Some(
            (
                StatusCode::FORBIDDEN,
                "the dev server answers its own page only\n",
            )
                .into_response(),
        );
    }
    None
}

/// `cfcookie serve --dev`: binds (loopback only unless forced), prints the URL, serves until
/// SIGTERM/Ctrl-C.
pub async fn serve(listen: SocketAddr, options: DevOptions) -> Result<(), String> {
    if !listen.ip().is_loopback() && !options.allow_remote {
        return Err(format!(
            "serve --dev hands out tokens to anyone who can reach it, so it listens on loopback only; {listen} is not loopback (CFCOOKIE_LISTEN / --listen): use 127.0.0.1, or pass --dev-allow-remote (CFCOOKIE_DEV_ALLOW_REMOTE=true) if you really mean it"
        ));
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = app(addr, &options).await?;
    println!("cfcookie dev server: open http://{addr}/  (keys in {}; rotate with `cfcookie rotate --dev`)", options.state_dir.display());
    crate::serve::run_with(
        listener,
        app,
        crate::serve::shutdown_signal(),
        options.header_timeout,
    )
    .await
    .map_err(|e| e.to_string())
}
