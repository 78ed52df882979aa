//! Amazon Cognito token verification, with the checks aws-jwt-verify makes: RS256 only; the key
//! chosen by `kid` from the pool's JWKS (cached; an unknown kid refetches at most once per
//! 10 s, and concurrent requests share one fetch); `iss`; `token_use`; `client_id` (access
//! tokens) or `aud` (id tokens) in the allow-list; `exp`/`nbf` with leeway; optional groups
//! (`cognito:groups`) and scopes. One check more than aws-jwt-verify: an `iat` later than now
//! plus the leeway is refused (docs/decisions/0004-future-iat.md).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ParsedPublicKey, RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use tokio::sync::Mutex;

/// Tokens longer than this are refused before any parsing (a 1 MB header is an attack).
pub(crate) const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Minimum time between two JWKS fetches caused by unknown kids.
pub(crate) const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// No token in the request.
    #[error("no token: send Authorization: Bearer <token>")]
    Missing,
    /// Not a JWT, or parts that do not decode.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// An algorithm other than RS256 (including `none` and HS256).
    #[error("algorithm {0} is not allowed; only RS256")]
    Algorithm(String),
    /// No `kid`, or a `kid` the pool's JWKS does not have.
    #[error("unknown signing key: {0}")]
    UnknownKey(String),
    /// The signature does not verify.
    #[error("invalid signature")]
    Signature,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is later than now plus the leeway: the issuer's clock and ours disagree.
    #[error("token issued in the future")]
    IssuedInFuture,
    /// A claim has the wrong value.
    #[error("{0}")]
    Claim(String),
    /// Valid token without a required group or scope (403, not 401).
    #[error("{0}")]
    Forbidden(String),
    /// The JWKS could not be fetched (the token may be fine).
    #[error("cannot fetch the JWKS: {0}")]
    Jwks(String),
}

impl TokenError {
    /// HTTP status: 403 for a missing group/scope, 503 when the JWKS is unreachable, else 401.
    pub fn status(&self) -> u16 {
        match self {
            TokenError::Forbidden(_) => 403,
            TokenError::Jwks(_) => 503,
            _ => 401,
        }
    }

    /// The `error` code of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Forbidden(_) => "insufficient_scope",
            TokenError::Jwks(_) => "jwks_unavailable",
            _ => "invalid_token",
        }
    }
}

/// Which Cognito token is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenUse {
    /// Access tokens (`client_id` claim); the default.
    Access,
    /// Id tokens (`aud` claim).
    Id,
}

impl TokenUse {
    fn as_str(self) -> &'static str {
        match self {
            TokenUse::Access => "access",
            TokenUse::Id => "id",
        }
    }
}

/// What a verified token says about its user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Claims {
    /// `sub`.
    pub sub: String,
    /// `username` (access) or `cognito:username` (id).
    pub username: Option<String>,
    /// `client_id` or `aud`.
    pub client_id: String,
    /// `exp`.
    pub exp: i64,
    /// `cognito:groups`.
    pub groups: Vec<String>,
    /// `scope`, split.
    pub scopes: Vec<String>,
}

/// Settings of a [`CognitoVerifier`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifierConfig {
    /// The token issuer: the expected `iss`, e.g.
    /// `https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC`.
    pub token_issuer: String,
    /// Where the JWKS is (default: issuer + `/.well-known/jwks.json`).
    pub jwks_url: String,
    /// Accepted token kind.
    pub token_use: TokenUse,
    /// Allowed app client ids.
    pub client_ids: Vec<String>,
    /// Seconds of clock skew allowed on `exp`/`nbf`.
    pub leeway: u64,
    /// Any one of these groups is required (empty: none).
    pub required_groups: Vec<String>,
    /// All of these scopes are required (empty: none).
    pub required_scopes: Vec<String>,
}

/// Fetches a JWKS document.
pub trait JwksFetcher: Send + Sync {
    /// The JWKS JSON at `url`.
    fn fetch(&self, url: &str) -> impl Future<Output = Result<String, String>> + Send;
}

/// HTTP(S) GET, 5 s timeout.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpJwks;

impl JwksFetcher for HttpJwks {
    async fn fetch(&self, url: &str) -> Result<String, String> {
        let url = url.to_owned();
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(5)))
                .build()
                .into();
            let mut resp = agent.get(&url).call().map_err(|e| e.to_string())?;
            resp.body_mut()
                .with_config()
                .limit(1024 * 1024)
                .read_to_string()
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

/// When the JWKS was last fetched, and how often: guarded by an async mutex so one request
/// fetches while the others wait for its result.
struct FetchState {
    fetched: Option<Instant>,
    fetches: u64,
    /// Why the last fetch failed, while it is the latest word on the JWKS.
    failed: Option<String>,
}

/// The pool's RS256 keys by `kid`, each parsed once per JWKS fetch. jsonwebtoken's
/// `DecodingKey` holds `n` and `e` and rebuilds the RSA key (a Montgomery set-up with a bignum
/// division) on every verification: a third of the verification's cost, paid per request.
type Keys = HashMap<String, Arc<ParsedPublicKey>>;

/// A JWKS entry as an RS256 verification key, or `None` for an entry no RS256 token may name:
/// another key type, `use` other than `sig`, or `alg` other than `RS256` (the checks
/// aws-jwt-verify makes of a JWK before it verifies with it).
fn rs256_key(jwk: &Jwk) -> Option<ParsedPublicKey> {
    let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        return None;
    };
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
        || jwk
            .common
            .key_algorithm
            .is_some_and(|a| a != KeyAlgorithm::RS256)
    {
        return None;
    }
    let n = URL_SAFE_NO_PAD.decode(rsa.n.trim_end_matches('=')).ok()?;
    let e = URL_SAFE_NO_PAD.decode(rsa.e.trim_end_matches('=')).ok()?;
    // Big-endian integers: aws-lc-rs takes them without leading zero bytes.
    let unpadded = |v: &[u8]| -> Vec<u8> { v.iter().copied().skip_while(|b| *b == 0).collect() };
    RsaPublicKeyComponents {
        n: unpadded(&n),
        e: unpadded(&e),
    }
    .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
    .ok()
}

/// Verifies Cognito JWTs for one user pool.
pub struct CognitoVerifier<F = HttpJwks> {
    config: VerifierConfig,
    fetcher: F,
    // Read on every request without awaiting: a contended async mutex here parked a worker
    // thread per hand-off and left a core idle under load.
    keys: std::sync::RwLock<Keys>,
    fetch: Mutex<FetchState>,
    refetch_interval: Duration,
}

impl<F> std::fmt::Debug for CognitoVerifier<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CognitoVerifier")
            .field("token_issuer", &self.config.token_issuer)
            .field("jwks_url", &self.config.jwks_url)
            .finish()
    }
}

#[derive(Deserialize)]
struct RawClaims {
    sub: Option<String>,
    iss: Option<String>,
    token_use: Option<String>,
    client_id: Option<String>,
    aud: Option<serde_json::Value>,
    exp: Option<i64>,
    nbf: Option<i64>,
    /// A number, as aws-jwt-verify requires (it may carry a fraction).
    iat: Option<f64>,
    username: Option<String>,
    #[serde(rename = "cognito:username")]
    cognito_username: Option<String>,
    #[serde(rename = "cognito:groups", default)]
    groups: Vec<String>,
    scope: Option<String>,
}

impl<F: JwksFetcher> CognitoVerifier<F> {
    /// A verifier; the JWKS is fetched on first use.
    pub fn new(config: VerifierConfig, fetcher: F) -> Self {
        CognitoVerifier {
            config,
            fetcher,
            keys: std::sync::RwLock::new(HashMap::new()),
            fetch: Mutex::new(FetchState {
                fetched: None,
                fetches: 0,
                failed: None,
            }),
            refetch_interval: JWKS_REFETCH_INTERVAL,
        }
    }

    /// Changes the minimum time between JWKS fetches for unknown kids (default 10 s).
    #[must_use]
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// The settings.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// How many times the JWKS has been fetched (for tests and metrics).
    pub async fn jwks_fetches(&self) -> u64 {
        self.fetch.lock().await.fetches
    }

    /// Fetches the JWKS now (at start-up, so the first request does not wait).
    pub async fn prefetch(&self) -> Result<(), TokenError> {
        let mut state = self.fetch.lock().await;
        self.refresh(&mut state).await
    }

    async fn refresh(&self, state: &mut FetchState) -> Result<(), TokenError> {
        state.fetched = Some(Instant::now());
        state.fetches += 1;
        let fetched = match self.fetcher.fetch(&self.config.jwks_url).await {
            Ok(text) => {
                serde_json::from_str::<JwkSet>(&text).map_err(|e| format!("not a JWKS: {e}"))
            }
            Err(e) => Err(e),
        };
        crate::metrics::jwks_fetch(fetched.is_ok());
        let set = match fetched {
            Ok(set) => {
                state.failed = None;
                set
            }
            Err(e) => {
                state.failed = Some(e.clone());
                return Err(TokenError::Jwks(e));
            }
        };
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            if let (Some(kid), Some(key)) = (jwk.common.key_id.clone(), rs256_key(jwk)) {
                keys.insert(kid, Arc::new(key));
            }
        }
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        Ok(())
    }

    fn cached(&self, kid: &str) -> Option<Arc<ParsedPublicKey>> {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(kid)
            .cloned()
    }

    async fn key(&self, kid: &str) -> Result<Arc<ParsedPublicKey>, TokenError> {
        if let Some(k) = self.cached(kid) {
            return Ok(k);
        }
        // One fetch at a time (the mutex; waiters then find the fetched keys), at most one per
        // interval (a flood of made-up kids must not turn into a flood of JWKS fetches).
        let mut state = self.fetch.lock().await;
        if let Some(k) = self.cached(kid) {
            return Ok(k);
        }
        if state
            .fetched
            .is_none_or(|t| t.elapsed() >= self.refetch_interval)
        {
            self.refresh(&mut state).await?;
        } else if let Some(why) = &state.failed {
            // Too soon to fetch again, and the last fetch failed: the kid may well be in the
            // JWKS we cannot read, so this is an outage (503, retry), not a bad token (401).
            return Err(TokenError::Jwks(why.clone()));
        }
        self.cached(kid)
            .ok_or_else(|| TokenError::UnknownKey(format!("kid {kid:?} is not in the pool's JWKS")))
    }

    /// Verifies `token` at time `now` (epoch seconds).
    pub async fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed(format!(
                "token is larger than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        if token.split('.').count() != 3 {
            return Err(TokenError::Malformed(
                "a JWT has three dot-separated parts".into(),
            ));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header
            .kid
            .ok_or_else(|| TokenError::UnknownKey("no kid in the header".into()))?;
        let key = self.key(&kid).await?;
        // RFC 7515 section 5.2: the signature covers `header.payload` as sent. Three parts
        // were counted above.
        let (signed, signature) = token.rsplit_once('.').unwrap_or_default();
        let payload = signed.split_once('.').unwrap_or_default().1;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|e| TokenError::Malformed(format!("signature: {e}")))?;
        key.verify_sig(signed.as_bytes(), &signature)
            .map_err(|_| TokenError::Signature)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|e| TokenError::Malformed(format!("payload: {e}")))?;
        let claims: RawClaims = serde_json::from_slice(&payload)
            .map_err(|e| TokenError::Malformed(format!("claims: {e}")))?;
        self.check_claims(claims, now)
    }

    fn check_claims(&self, raw: RawClaims, now: i64) -> Result<Claims, TokenError> {
        let leeway = i64::try_from(self.config.leeway).unwrap_or(0);
        if raw.iss.as_deref() != Some(self.config.token_issuer.as_str()) {
            return Err(TokenError::Claim(format!(
                "issuer {:?} is not {:?}",
                raw.iss.unwrap_or_default(),
                self.config.token_issuer
            )));
        }
        let want = self.config.token_use.as_str();
        if raw.token_use.as_deref() != Some(want) {
            return Err(TokenError::Claim(format!(
                "token_use {:?} is not {want:?}",
                raw.token_use.unwrap_or_default()
            )));
        }
        let client_id = match self.config.token_use {
            TokenUse::Access => raw.client_id.clone(),
            TokenUse::Id => match &raw.aud {
                Some(serde_json::Value::String(a)) => Some(a.clone()),
                _ => None,
            },
        }
        .ok_or_else(|| TokenError::Claim("no client id (client_id / aud) in the token".into()))?;
        if !self.config.client_ids.iter().any(|c| c == &client_id) {
            return Err(TokenError::Claim(format!(
                "client {client_id:?} is not allowed"
            )));
        }
        let exp = raw.exp.ok_or_else(|| TokenError::Claim("no exp".into()))?;
        // Saturating: `exp` is the token's to choose, and i64::MAX + leeway must not overflow.
        if now >= exp.saturating_add(leeway) {
            return Err(TokenError::Expired);
        }
        if let Some(nbf) = raw.nbf {
            if now.saturating_add(leeway) < nbf {
                return Err(TokenError::NotYetValid);
            }
        }
        // Cognito's tokens carry no `nbf`: `iat` is their start (docs/decisions/0004).
        if let Some(iat) = raw.iat {
            if iat > now.saturating_add(leeway) as f64 {
                return Err(TokenError::IssuedInFuture);
            }
        }
        let sub = raw.sub.ok_or_else(|| TokenError::Claim("no sub".into()))?;
        let scopes: Vec<String> = raw
            .scope
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if !self.config.required_groups.is_empty()
            && !raw
                .groups
                .iter()
                .any(|g| self.config.required_groups.contains(g))
        {
            return Err(TokenError::Forbidden(format!(
                "membership in one of {:?} is required",
                self.config.required_groups
            )));
        }
        if let Some(missing) = self
            .config
            .required_scopes
            .iter()
            .find(|s| !scopes.contains(s))
        {
            return Err(TokenError::Forbidden(format!(
                "scope {missing:?} is required"
            )));
        }
        Ok(Claims {
            sub,
            username: raw.username.or(raw.cognito_username),
            client_id,
            exp,
            groups: raw.groups,
            scopes,
        })
    }
}
