//! The cookie endpoint, independent of its host (Lambda or server): `GET /cookie` checks a
//! Cognito token and answers with the signed cookies; `GET /cookie/remove` expires them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use cfcookie_signer::{CookieAttributes, HashAlgorithm, Ipv4Cidr, Policy, SameSite};
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use serde_json::json;
use tracing::{info, warn};

use crate::keysource::KeySource;
use crate::resource::SharedResource;
use crate::token::{Claims, TokenError, TokenUse, VerifierConfig};

/// Endpoint settings (from `CFCOOKIE_*`; see the README).
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Maximum cookie lifetime, seconds (`CFCOOKIE_COOKIE_LIFETIME`).
    pub cookie_lifetime: i64,
    /// Resource template (`CFCOOKIE_RESOURCE`), default `https://{host}/*`; shared so a
    /// refresh from `CFCOOKIE_RESOURCE_PARAMETER` reaches a running endpoint.
    pub resource: SharedResource,
    /// Hosts `{host}` may take (`CFCOOKIE_ALLOWED_HOSTS`), lower-case.
    pub allowed_hosts: Vec<String>,
    /// Cookie attributes (Domain, Path, SameSite, Secure, HttpOnly).
    pub cookie: CookieAttributes,
    /// CORS allow-list (`CFCOOKIE_ALLOWED_ORIGINS`).
    pub allowed_origins: Vec<String>,
    /// Extra header to read the token from (`CFCOOKIE_TOKEN_HEADER`), lower-case.
    pub token_header: Option<String>,
    /// Signature digest (`CFCOOKIE_HASH_ALGORITHM`).
    pub hash: HashAlgorithm,
    /// Bind cookies to the viewer's IPv4 address from `CloudFront-Viewer-Address`
    /// (`CFCOOKIE_BIND_VIEWER_IP`); that header is trusted only when this is on.
    pub bind_viewer_ip: bool,
    /// Path prefix the routes live under (`CFCOOKIE_PATH_PREFIX`, default none).
    pub path_prefix: String,
    /// Reuse of signatures for identical policies (`CFCOOKIE_SIGNATURE_CACHE_SECONDS`, off by
    /// default; see [`crate::sigcache`]).
    pub signature_cache: Option<Arc<crate::sigcache::SignatureCache>>,
}

impl EndpointConfig {
    /// Reads the settings of the endpoint and of its token verifier from `env`.
    pub fn from_map(
        env: &HashMap<String, String>,
    ) -> Result<(EndpointConfig, VerifierConfig), String> {
        let get = |k: &str| {
            env.get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let list = |k: &str| -> Vec<String> {
            get(k)
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        let secs = |k: &str, d: i64| -> Result<i64, String> {
            get(k).map_or(Ok(d), |v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(format!("{k}={v:?} is not a positive number of seconds"))
            })
        };
        let region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION"));
        let issuer = match (get("CFCOOKIE_ISSUER"), get("CFCOOKIE_USER_POOL_ID")) {
            (Some(i), _) => i,
            (None, Some(pool)) => {
                let region = pool.split('_').next().filter(|r| r.contains('-')).map(str::to_owned).or(region).ok_or("AWS_REGION is needed to derive the issuer")?;
                format!("https://cognito-idp.{region}.amazonaws.com/{pool}")
            }
            (None, None) => return Err("set CFCOOKIE_USER_POOL_ID (or CFCOOKIE_ISSUER): the Cognito user pool whose tokens are accepted".into()),
        };
        let client_ids = list("CFCOOKIE_CLIENT_IDS");
        if client_ids.is_empty() {
            return Err(
                "set CFCOOKIE_CLIENT_IDS: the app client ids whose tokens are accepted".into(),
            );
        }
        let token_use = match get("CFCOOKIE_TOKEN_USE").as_deref() {
            None | Some("access") => TokenUse::Access,
            Some("id") => TokenUse::Id,
            Some(other) => {
                return Err(format!("CFCOOKIE_TOKEN_USE={other:?} must be access or id"))
            }
        };
        let verifier = VerifierConfig {
            jwks_url: get("CFCOOKIE_JWKS_URL")
                .unwrap_or_else(|| format!("{issuer}/.well-known/jwks.json")),
            issuer,
            token_use,
            client_ids,
            leeway: u64::try_from(secs("CFCOOKIE_TOKEN_LEEWAY", 5)?).unwrap_or(5),
            required_groups: list("CFCOOKIE_REQUIRED_GROUPS"),
            required_scopes: list("CFCOOKIE_REQUIRED_SCOPES"),
        };
        let resource = get("CFCOOKIE_RESOURCE").unwrap_or_else(|| "https://{host}/*".into());
        let allowed_hosts: Vec<String> = list("CFCOOKIE_ALLOWED_HOSTS")
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        if resource.contains("{host}") && allowed_hosts.is_empty() {
            return Err("CFCOOKIE_RESOURCE uses {host} but CFCOOKIE_ALLOWED_HOSTS is empty: set the hosts cookies may be minted for, or a fixed CFCOOKIE_RESOURCE".into());
        }
        Policy::new(expand_check(&resource), 1)
            .validate()
            .map_err(|e| format!("CFCOOKIE_RESOURCE: {e}"))?;
        let same_site: SameSite =
            get("CFCOOKIE_SAME_SITE").map_or(Ok(SameSite::Lax), |v| v.parse())?;
        let cookie = CookieAttributes {
            path: get("CFCOOKIE_COOKIE_PATH").unwrap_or_else(|| "/".into()),
            domain: get("CFCOOKIE_COOKIE_DOMAIN"),
            secure: true,
            http_only: true,
            same_site: Some(same_site),
            expires: None,
            max_age: None,
        };
        cookie.validate()?;
        let hash = get("CFCOOKIE_HASH_ALGORITHM").map_or(Ok(HashAlgorithm::Sha1), |v| {
            v.parse()
                .map_err(|e: cfcookie_signer::keys::UnknownHash| e.to_string())
        })?;
        let config = EndpointConfig {
            cookie_lifetime: secs("CFCOOKIE_COOKIE_LIFETIME", 3600)?,
            resource: SharedResource::new(resource),
            allowed_hosts,
            cookie,
            allowed_origins: list("CFCOOKIE_ALLOWED_ORIGINS"),
            token_header: get("CFCOOKIE_TOKEN_HEADER").map(|h| h.to_ascii_lowercase()),
            hash,
            bind_viewer_ip: matches!(
                get("CFCOOKIE_BIND_VIEWER_IP").as_deref(),
                Some("1" | "true" | "yes")
            ),
            path_prefix: get("CFCOOKIE_PATH_PREFIX")
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_owned(),
            signature_cache: crate::sigcache::SignatureCache::from_settings(
                get("CFCOOKIE_SIGNATURE_CACHE_SECONDS").as_deref(),
                get("CFCOOKIE_SIGNATURE_CACHE_SIZE").as_deref(),
            )?,
        };
        Ok((config, verifier))
    }
}

/// The template with placeholders filled by harmless text, for validation at start-up.
fn expand_check(template: &str) -> String {
    let mut out = template.replace("{host}", "example.com");
    while let (Some(a), Some(b)) = (out.find('{'), out.find('}')) {
        if b < a {
            break;
        }
        out.replace_range(a..=b, "x");
    }
    out
}

/// Verifies tokens (Cognito, or the dev issuer's).
pub trait TokenVerifier: Send + Sync {
    /// The claims of a valid token.
    fn verify(
        &self,
        token: &str,
        now: i64,
    ) -> impl std::future::Future<Output = Result<Claims, TokenError>> + Send;
}

impl<F: crate::token::JwksFetcher> TokenVerifier for crate::token::CognitoVerifier<F> {
    async fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        crate::token::CognitoVerifier::verify(self, token, now).await
    }
}

/// The endpoint: a verifier, a key source and settings.
pub struct Endpoint<V, K> {
    /// Token verifier.
    pub verifier: V,
    /// Key source.
    pub keys: Arc<K>,
    /// Settings.
    pub config: EndpointConfig,
    /// Clock (epoch seconds); injected so tests can move time.
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl<V, K> std::fmt::Debug for Endpoint<V, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A refusal on its way to becoming an [`error`] response.
struct Refuse(StatusCode, &'static str, String);

/// A JSON error response.
fn error(status: StatusCode, code: &str, message: &str) -> Response<String> {
    let mut r = Response::new(json!({"error": code, "message": message}).to_string());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        let value = format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            message.replace(['"', '\\'], "'")
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    r
}

/// Percent-encodes a claim for the resource template: everything but RFC 3986 unreserved, so
/// a claim cannot add `*` or `?` (which would widen the pattern) or `/`.
fn escape_claim(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Splits `host[:port]`, lower-cased; `None` when it is not a plausible host.
fn clean_host(raw: &str) -> Option<String> {
    let host = raw.trim().to_ascii_lowercase();
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    ok.then_some(host)
}

impl<V: TokenVerifier, K: KeySource> Endpoint<V, K> {
    /// Handles one request (method, path without query, headers): the whole HTTP behaviour,
    /// whatever the host.
    pub async fn handle(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Response<String> {
        let started = std::time::Instant::now();
        let route = path
            .strip_prefix(self.config.path_prefix.as_str())
            .unwrap_or(path);
        let mut response = match route {
            "/cookie" | "/cookie/" => self.cookie_route(method, headers).await,
            "/cookie/remove" | "/cookie/remove/" => self.remove_route(method, headers),
            _ => error(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such route: use /cookie or /cookie/remove",
            ),
        };
        self.cors(headers, &mut response);
        info!(method = %method, path = route, status = response.status().as_u16(), micros = started.elapsed().as_micros() as u64, "request");
        response
    }

    fn method_check(method: &Method) -> Option<Response<String>> {
        if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
            return None;
        }
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "use GET",
        );
        r.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
        Some(r)
    }

    fn preflight() -> Response<String> {
        let mut r = Response::new(String::new());
        *r.status_mut() = StatusCode::NO_CONTENT;
        r
    }

    fn token<'h>(&self, headers: &'h HeaderMap) -> Result<&'h str, TokenError> {
        let mut auth = headers.get_all(header::AUTHORIZATION).iter();
        let first = auth.next();
        if auth.next().is_some() {
            return Err(TokenError::Malformed(
                "more than one Authorization header".into(),
            ));
        }
        if let Some(v) = first {
            let v = v
                .to_str()
                .map_err(|_| TokenError::Malformed("Authorization is not ASCII".into()))?;
            let (scheme, token) = v.split_once(' ').ok_or_else(|| {
                TokenError::Malformed("Authorization must be 'Bearer <token>'".into())
            })?;
            // With OAC CloudFront signs the origin request and overwrites Authorization with
            // SigV4; that is not ours: fall through to the configured header then.
            if scheme.eq_ignore_ascii_case("bearer") {
                return Ok(token.trim());
            }
            if self.config.token_header.is_none() {
                return Err(TokenError::Malformed(
                    "Authorization must be 'Bearer <token>'".into(),
                ));
            }
        }
        if let Some(name) = &self.config.token_header {
            let mut values = headers.get_all(name.as_str()).iter();
            if let Some(v) = values.next() {
                if values.next().is_some() {
                    return Err(TokenError::Malformed(format!(
                        "more than one {name} header"
                    )));
                }
                let v = v
                    .to_str()
                    .map_err(|_| TokenError::Malformed(format!("{name} is not ASCII")))?
                    .trim();
                return Ok(v.strip_prefix("Bearer ").unwrap_or(v));
            }
        }
        Err(TokenError::Missing)
    }

    async fn cookie_route(&self, method: &Method, headers: &HeaderMap) -> Response<String> {
        if let Some(r) = Self::method_check(method) {
            return r;
        }
        if method == Method::OPTIONS {
            return Self::preflight();
        }
        let now = (self.clock)();
        let verified = match self.token(headers) {
            Ok(token) => self.verifier.verify(token, now).await,
            Err(e) => Err(e),
        };
        let claims = match verified {
            Ok(c) => c,
            Err(e) => {
                info!(reason = %e, "token refused");
                return error(
                    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED),
                    e.code(),
                    &e.to_string(),
                );
            }
        };
        let resource = match self.resource(headers, &claims) {
            Ok(r) => r,
            Err(Refuse(status, code, message)) => return error(status, code, &message),
        };
        let expires = claims.exp.min(now + self.config.cookie_lifetime);
        let cache = self.config.signature_cache.as_deref();
        let expires = cache.map_or(expires, |c| c.round_expiry(expires, now));
        let mut policy = Policy::new(resource.clone(), expires);
        if self.config.bind_viewer_ip {
            match viewer_ipv4(headers) {
                Some(ip) => policy = policy.from_ip(ip),
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "no_viewer_address",
                        "IP binding is on but CloudFront-Viewer-Address has no IPv4 address",
                    )
                }
            }
        }
        let signer = match self.keys.signer(now) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "no key to sign with");
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "key_unavailable",
                    &e.to_string(),
                );
            }
        };
        // Wildcards need a custom policy; a fixed resource without one is still sent custom so
        // the cookie never depends on the exact request URL.
        let signed = match cache {
            Some(c) => c.cookies(&signer, self.config.hash, &policy, now),
            None => signer
                .sign_with(
                    &policy,
                    cfcookie_signer::PolicyKind::Custom,
                    self.config.hash,
                )
                .map(|s| Arc::new(s.into())),
        };
        let cookies: Arc<cfcookie_signer::SignedCookies> = match signed {
            Ok(c) => c,
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "sign_failed",
                    &e.to_string(),
                )
            }
        };
        let attrs = CookieAttributes {
            expires: Some(expires),
            ..self.config.cookie.clone()
        };
        let body = json!({
            "expires": expires,
            "expires_at": chrono::DateTime::from_timestamp(expires, 0).map(|t| t.to_rfc3339()),
            "resource": resource,
            "key_pair_id": signer.key_pair_id(),
        });
        let mut r = Response::new(if method == Method::HEAD {
            String::new()
        } else {
            body.to_string()
        });
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for c in cookies.set_cookie_headers(&attrs) {
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(header::SET_COOKIE, v);
            }
        }
        r
    }

    fn resource(&self, headers: &HeaderMap, claims: &Claims) -> Result<String, Refuse> {
        let mut out = self.config.resource.get();
        if out.contains("{host}") {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .and_then(clean_host)
                .ok_or_else(|| {
                    Refuse(
                        StatusCode::BAD_REQUEST,
                        "bad_host",
                        "a Host header is required".into(),
                    )
                })?;
            let bare = host
                .rsplit_once(':')
                .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
                .map_or(host.as_str(), |(h, _)| h);
            if !self
                .config
                .allowed_hosts
                .iter()
                .any(|a| a == &host || a == bare)
            {
                return Err(Refuse(
                    StatusCode::BAD_REQUEST,
                    "host_not_allowed",
                    format!("cookies are not issued for host {host:?}"),
                ));
            }
            out = out.replace("{host}", &host);
        }
        for (name, value) in [
            ("{sub}", Some(claims.sub.as_str())),
            ("{username}", claims.username.as_deref()),
            ("{client_id}", Some(claims.client_id.as_str())),
        ] {
            if out.contains(name) {
                let value = value.ok_or_else(|| {
                    Refuse(
                        StatusCode::FORBIDDEN,
                        "missing_claim",
                        format!("the token has no claim for {name}"),
                    )
                })?;
                out = out.replace(name, &escape_claim(value));
            }
        }
        Ok(out)
    }

    fn remove_route(&self, method: &Method, _headers: &HeaderMap) -> Response<String> {
        if let Some(r) = Self::method_check(method) {
            return r;
        }
        if method == Method::OPTIONS {
            return Self::preflight();
        }
        let mut r = Response::new(json!({"removed": true}).to_string());
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for c in self.config.cookie.removal_headers() {
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(header::SET_COOKIE, v);
            }
        }
        r
    }

    /// CORS with credentials for allowed origins only; no Origin, no CORS headers.
    fn cors(&self, headers: &HeaderMap, response: &mut Response<String>) {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
            return;
        };
        let h = response.headers_mut();
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        if !self.config.allowed_origins.iter().any(|a| a == origin) {
            return;
        }
        let Ok(origin) = HeaderValue::from_str(origin) else {
            return;
        };
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        if headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            );
            let allow = match &self.config.token_header {
                Some(extra) => format!("authorization, {extra}"),
                None => "authorization".to_owned(),
            };
            if let Ok(v) = HeaderValue::from_str(&allow) {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
            }
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
    }
}

/// The viewer's IPv4 address from `CloudFront-Viewer-Address` (`ip:port`).
fn viewer_ipv4(headers: &HeaderMap) -> Option<Ipv4Cidr> {
    let v = headers.get("cloudfront-viewer-address")?.to_str().ok()?;
    let ip = v.rsplit_once(':').map_or(v, |(ip, _)| ip);
    match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => format!("{a}/32").parse().ok(),
        IpAddr::V6(_) => None,
    }
}
