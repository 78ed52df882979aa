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

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Form, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use cfcookie_secret::{SecretValue, FORMAT};
use cfcookie_signer::{KeyAlgorithm, PrivateKey};
use jsonwebtoken::{EncodingKey, Header};
use serde::Deserialize;

use cfcookie_config::{self as config, Env};
use cfcookie_secret::{Clock as _, SystemClock};

use cfcookie_endpoint::{CognitoVerifier, HttpJwks};
use cfcookie_endpoint::{Endpoint, EndpointConfig};
use cfcookie_endpoint::{KeySource, SecretKeySource, SecretReader};

/// The dev app client id tokens carry.
pub const DEV_CLIENT_ID: &str = "cfcookie-dev-client";
const ISSUER_KID: &str = "cfcookie-dev-1";

/// The dev key ring: a directory holding the current and previous key in the secret format.
#[derive(Debug, Clone)]
pub struct DevKeyRing {
    dir: PathBuf,
}

impl DevKeyRing {
    /// The ring in `state/keys`.
    pub fn new(state: &Path) -> Self {
        DevKeyRing {
            dir: state.join("keys"),
        }
    }

    fn read_one(&self, name: &str) -> Result<Option<SecretValue>, String> {
        let path = self.dir.join(name);
        match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
            Ok(text) => SecretValue::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
        }
    }

    /// Makes a new current key (the old one becomes previous), active after `delay` seconds.
    pub fn rotate(&self, delay: i64) -> Result<SecretValue, String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let key = PrivateKey::generate(KeyAlgorithm::Rsa2048).map_err(|e| e.to_string())?;
        let now = SystemClock.now();
        let n: u64 = rand::random();
        let value = SecretValue {
            format: FORMAT.to_owned(),
            key_id: format!("KDEV{:010}", n % 10_000_000_000),
            algorithm: key.algorithm().as_str().to_owned(),
            private_key_pem: key.to_pkcs8_pem().map_err(|e| e.to_string())?.to_string(),
            public_key_pem: key.public_key().to_pem(),
            created_at: now,
            active_from: now + chrono::Duration::seconds(delay),
        };
        let current = self.dir.join("current.json");
        if current.exists() {
            std::fs::rename(&current, self.dir.join("previous.json")).map_err(|e| e.to_string())?;
        }
        let tmp = self.dir.join("current.json.tmp");
        crate::files::write_private(&tmp, value.to_json().as_bytes()).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &current).map_err(|e| e.to_string())?;
        Ok(value)
    }

    /// Ensures a current key exists.
    pub fn ensure(&self) -> Result<(), String> {
        if self.read_one("current.json")?.is_none() {
            self.rotate(0)?;
        }
        Ok(())
    }
}

impl SecretReader for DevKeyRing {
    async fn read(
        &self,
    ) -> Result<(Option<SecretValue>, Option<SecretValue>), cfcookie_endpoint::KeyLoadError> {
        let one = |name| {
            self.read_one(name)
                .map_err(cfcookie_endpoint::KeyLoadError::Reader)
        };
        Ok((one("current.json")?, one("previous.json")?))
    }
}

/// The dev token issuer's minter: one RSA key, kept in the state directory, that mints
/// Cognito-shaped tokens.
struct TokenMinter {
    iss: String,
    key: EncodingKey,
    jwks: String,
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl TokenMinter {
    fn load(state: &Path, issuer: String) -> Result<TokenMinter, String> {
        let path = state.join("issuer-key.pem");
        let key = match std::fs::read_to_string(&path) {
            Ok(pem) => PrivateKey::from_pem(&pem, None).map_err(|e| e.to_string())?,
            Err(_) => {
                let key = PrivateKey::generate(KeyAlgorithm::Rsa2048).map_err(|e| e.to_string())?;
                let pem = key.to_pkcs8_pem().map_err(|e| e.to_string())?;
                crate::files::write_private(&path, pem.as_bytes()).map_err(|e| e.to_string())?;
                key
            }
        };
        let rsa = aws_lc_rs::rsa::PublicKey::from_der(key.public_key().spki_der())
            .map_err(|e| format!("issuer key: {e:?}"))?;
        let jwk = serde_json::json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": ISSUER_KID,
            "n": b64url(rsa.modulus().big_endian_without_leading_zero()), "e": b64url(rsa.exponent().big_endian_without_leading_zero())});
        let pem = key.to_pkcs8_pem().map_err(|e| e.to_string())?;
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
        Ok(TokenMinter {
            iss: issuer,
            key: encoding,
            jwks: serde_json::json!({"keys": [jwk]}).to_string(),
        })
    }

    /// An access token shaped like Cognito's.
    fn mint(&self, username: &str, groups: &[String], lifetime: i64) -> Result<String, String> {
        let now = SystemClock.epoch();
        let sub = {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, username.as_bytes());
            let mut first = [0u8; 16];
            first.copy_from_slice(&d.as_ref()[..16]);
            cfcookie_secret::uuid_text(&first)
        };
        let claims = serde_json::json!({
            "sub": sub, "iss": self.iss, "client_id": DEV_CLIENT_ID, "origin_jti": format!("{:x}", rand::random::<u64>()),
            "event_id": format!("{:x}", rand::random::<u64>()), "token_use": "access", "scope": "openid profile",
            "auth_time": now, "exp": now + lifetime, "iat": now, "jti": format!("{:x}", rand::random::<u64>()),
            "username": username, "cognito:groups": groups,
        });
        let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(ISSUER_KID.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| e.to_string())
    }
}

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
    minter: TokenMinter,
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

const SAMPLE_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="480" height="300" viewBox="0 0 480 300">
<rect width="480" height="300" fill="#1d3557"/><circle cx="380" cy="70" r="38" fill="#f1c40f"/>
<path d="M0 300 L140 120 L250 260 L330 170 L480 300 Z" fill="#457b9d"/><path d="M0 300 L90 210 L190 300 Z" fill="#a8dadc"/>
<text x="24" y="44" font-family="sans-serif" font-size="26" fill="#f1faee">private photo</text>
<text x="24" y="72" font-family="sans-serif" font-size="14" fill="#f1faee">served only with valid CloudFront cookies</text></svg>"##;

/// Builds the dev app (routes and endpoint) for a server that will listen on `addr`.
pub async fn app(addr: SocketAddr, options: &DevOptions) -> Result<Router, String> {
    let state_dir = &options.state_dir;
    std::fs::create_dir_all(state_dir).map_err(|e| format!("{}: {e}", state_dir.display()))?;
    let ring = DevKeyRing::new(state_dir);
    ring.ensure()?;
    let keys = Arc::new(SecretKeySource::new(ring));
    keys.refresh().await.map_err(|e| e.to_string())?;
    keys.spawn_refresh(Duration::from_secs(2));
    let content = match &options.content_dir {
        Some(dir) => dir.clone(),
        None => {
            let dir = state_dir.join("content");
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let photo = dir.join("photo.svg");
            if !photo.exists() {
                std::fs::write(&photo, SAMPLE_SVG).map_err(|e| e.to_string())?;
            }
            dir
        }
    };
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
        minter: TokenMinter::load(state_dir, issuer_url)?,
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
        .route("/dev/.well-known/jwks.json", get(jwks))
        .route("/dev/token", post(token))
        .route("/dev/keys", get(key_ring))
        .route("/dev/rotate", post(rotate_now))
        .route("/dev/cookies", get(cookies_seen))
        .route("/private/{*path}", get(private))
        .with_state(state);
    Ok(dev.merge(crate::serve::router(endpoint)))
}

async fn page() -> Html<&'static str> {
    Html(include_str!("dev_page.html"))
}

async fn jwks(State(s): State<Arc<DevState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        s.minter.jwks.clone(),
    )
}

#[derive(Deserialize)]
struct SignIn {
    username: String,
    #[serde(default)]
    groups: String,
}

/// Mints a token. Anyone who reaches this gets a token, so: only callers on this machine, not
/// another site's page in the user's browser (a form posted from elsewhere carries its Origin),
/// and only the dev groups (a token with `admin` would pass any group check).
async fn token(
    State(s): State<Arc<DevState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    if !peer.ip().is_loopback() {
        return (
            StatusCode::FORBIDDEN,
            "the dev sign-in answers this machine only\n",
        )
            .into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        if !s.origins.iter().any(|o| o == origin) {
            return (
                StatusCode::FORBIDDEN,
                "the dev sign-in answers its own page only\n",
            )
                .into_response();
        }
    }
    let username = form.username.trim();
    if username.is_empty() || username.len() > 128 {
        return (StatusCode::BAD_REQUEST, "username: 1 to 128 characters").into_response();
    }
    let groups: Vec<String> = form
        .groups
        .split(',')
        .map(|g| g.trim().to_owned())
        .filter(|g| !g.is_empty())
        .collect();
    if let Some(g) = groups.iter().find(|g| !s.groups.contains(g)) {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "group {g:?} is not a dev group (CFCOOKIE_DEV_GROUPS: {})\n",
                s.groups.join(", ")
            ),
        )
            .into_response();
    }
    match s.minter.mint(username, &groups, s.token_lifetime) {
        Ok(t) => axum::Json(serde_json::json!({"access_token": t, "token_type": "Bearer", "expires_in": s.token_lifetime})).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
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

fn key_json(v: &SecretValue, now: i64) -> serde_json::Value {
    serde_json::json!({
        "key_id": v.key_id,
        "created_at": v.created_at.to_rfc3339(),
        "active_from": v.active_from.to_rfc3339(),
        "active": v.active_from.timestamp() <= now,
    })
}

/// The key ring as a timeline: which key signs now, when the newest becomes active, and the
/// earliest the previous one may leave the key group.
async fn key_ring(State(s): State<Arc<DevState>>) -> Response {
    let now = SystemClock.epoch();
    let (current, previous) = match s.ring.read().await {
        Ok(pair) => pair,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let signing = s.keys.signer(now).ok().map(|k| k.key_pair_id().to_owned());
    let leaves = current.as_ref().map(|c| {
        (c.active_from + chrono::Duration::seconds(s.predecessor_needed_for)).to_rfc3339()
    });
    axum::Json(serde_json::json!({
        "now": chrono::DateTime::from_timestamp(now, 0).map(|t| t.to_rfc3339()),
        "signing": signing,
        "current": current.as_ref().map(|v| key_json(v, now)),
        "previous": previous.as_ref().map(|v| key_json(v, now)),
        "previous_may_leave_at": leaves,
        "activation_delay": s.activation_delay,
    }))
    .into_response()
}

/// "Rotate now": the rotation `cfcookie rotate --dev` runs (same ring, same activation delay).
async fn rotate_now(
    State(s): State<Arc<DevState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = local_page_only(&s, peer, &headers) {
        return refused;
    }
    let value = match s.ring.rotate(s.activation_delay) {
        Ok(v) => v,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    };
    if let Err(e) = s.keys.refresh().await {
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    axum::Json(key_json(&value, SystemClock.epoch())).into_response()
}

/// What CloudFront would see: the cookies this browser sends (HttpOnly, so the page cannot
/// read them itself), the decoded policy, and the decision for the protected photo.
async fn cookies_seen(
    State(s): State<Arc<DevState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let cookie = headers.get(header::COOKIE).and_then(|c| c.to_str().ok());
    let find = |name: &str| {
        cookie.and_then(|c| {
            c.split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
        })
    };
    let policy = find("CloudFront-Policy")
        .and_then(|p| cfcookie_signer::base64_decode(&p))
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let url = format!("http://{host}/private/photo.svg");
    let viewer = cfcookie_edge::Viewer {
        site: &format!("http://{host}"),
        path: "/private/photo.svg",
        query: "",
        headers: &headers,
        ip: peer.ip(),
    };
    let decision = match cfcookie_edge::authorize(&s.keys.key_group(), &viewer, SystemClock.epoch())
    {
        Ok(_) => serde_json::json!({"allowed": true}),
        Err(refusal) => serde_json::json!({"allowed": false, "reason": refusal.code()}),
    };
    axum::Json(serde_json::json!({
        "policy": policy,
        "key_pair_id": find("CloudFront-Key-Pair-Id"),
        "hash_algorithm": find("CloudFront-Hash-Algorithm").unwrap_or_else(|| "SHA1".into()),
        "url": url,
        "decision": decision,
    }))
    .into_response()
}

/// Serves a file only when the request carries cookies CloudFront would accept.
async fn private(
    State(s): State<Arc<DevState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    // The decision `cfcookie edge` makes for a behavior that trusts the key group: signed
    // cookies, or a signed URL when the query carries one.
    let site = format!("http://{host}");
    let viewer = cfcookie_edge::Viewer {
        site: &site,
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &headers,
        ip: peer.ip(),
    };
    if let Err(refusal) =
        cfcookie_edge::authorize(&s.keys.key_group(), &viewer, SystemClock.epoch())
    {
        let mut r = cfcookie_edge::refusal(
            StatusCode::FORBIDDEN,
            refusal.code(),
            &format!("refused as CloudFront would: {refusal}"),
        )
        .map(axum::body::Body::from)
        .into_response();
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        return r;
    }
    let rel = uri.path().trim_start_matches("/private/");
    if rel
        .split('/')
        .any(|part| part.is_empty() || part == ".." || part == "." || part.contains('\\'))
    {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    match tokio::fs::read(s.content.join(rel)).await {
        Ok(bytes) => {
            let kind = match Path::new(rel).extension().and_then(|e| e.to_str()) {
                Some("svg") => "image/svg+xml",
                Some("png") => "image/png",
                Some("jpg" | "jpeg") => "image/jpeg",
                Some("html") => "text/html; charset=utf-8",
                Some("txt") => "text/plain; charset=utf-8",
                _ => "application/octet-stream",
            };
            (
                [
                    (header::CONTENT_TYPE, kind),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                bytes,
            )
                .into_response()
        }
        Err(_) => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
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
