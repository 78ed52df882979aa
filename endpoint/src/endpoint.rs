//! The cookie endpoint, independent of its host (Lambda or server): `GET /cookie` checks a
//! Cognito token and answers with the signed cookies; `POST /cookie/remove` expires them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use cfcookie_secret::Clock;
use cfcookie_signer::{CookieAttributes, HashAlgorithm, Ipv4Cidr, Policy, SameSite};
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use serde_json::json;
use tracing::{info, warn};

use cfcookie_config::{self as config, ConfigError, Env};

use crate::keysource::KeySource;
use crate::resource::SharedResource;
use crate::token::{Claims, TokenError, TokenUse, VerifierConfig};

/// Endpoint settings (from `CFCOOKIE_*`; see the README).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// Maximum cookie lifetime, seconds (`CFCOOKIE_COOKIE_LIFETIME`).
    pub cookie_lifetime: i64,
    /// Resource template (`CFCOOKIE_RESOURCE`), default `https://{host}/*`, parsed at start-up
    /// (placeholders checked); shared so a refresh from `CFCOOKIE_RESOURCE_PARAMETER` reaches a
    /// running endpoint.
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
    /// default; see [`crate::SignatureCache`]).
    pub signature_cache: Option<Arc<crate::sigcache::SignatureCache>>,
    /// How often the key source re-reads the secret, seconds (`CFCOOKIE_KEY_CACHE_TTL`).
    pub key_cache_ttl: u64,
}

impl EndpointConfig {
    /// Reads the settings of the endpoint and of its token verifier from `env`.
    pub fn from_map(
        env: &HashMap<String, String>,
    ) -> Result<(EndpointConfig, VerifierConfig), ConfigError> {
        EndpointConfig::from_env(&Env::from_map(env))
    }

    /// Reads the settings of the endpoint and of its token verifier.
    pub fn from_env(env: &Env) -> Result<(EndpointConfig, VerifierConfig), ConfigError> {
        let region = env
            .other("AWS_REGION")
            .or_else(|| env.other("AWS_DEFAULT_REGION"));
        let issuer =
            match (env.text(&config::ISSUER), env.text(&config::USER_POOL_ID)) {
                (Some(i), _) => i,
                (None, Some(pool)) => {
                    let region = pool
                        .split('_')
                        .next()
                        .filter(|r| r.contains('-'))
                        .map(str::to_owned)
                        .or(region)
                        .ok_or_else(|| {
                            ConfigError::new(
                                &config::USER_POOL_ID,
                                "the region is neither in the pool id nor in AWS_REGION",
                            )
                        })?;
                    format!("https://cognito-idp.{region}.amazonaws.com/{pool}")
                }
                (None, None) => return Err(ConfigError::new(
                    &config::USER_POOL_ID,
                    "set it (or CFCOOKIE_ISSUER): the Cognito user pool whose tokens are accepted",
                )),
            };
        env.required(&config::CLIENT_IDS)?;
        let token_use = match env.choice(&config::TOKEN_USE)? {
            "id" => TokenUse::Id,
            _ => TokenUse::Access,
        };
        let verifier = VerifierConfig {
            jwks_url: env
                .text(&config::JWKS_URL)
                .unwrap_or_else(|| format!("{issuer}/.well-known/jwks.json")),
            token_issuer: issuer,
            token_use,
            client_ids: env.list(&config::CLIENT_IDS),
            leeway: env.number(&config::TOKEN_LEEWAY)?,
            required_groups: env.list(&config::REQUIRED_GROUPS),
            required_scopes: env.list(&config::REQUIRED_SCOPES),
        };
        let resource = env.required(&config::RESOURCE)?;
        // The hosts read the template from CFCOOKIE_RESOURCE_PARAMETER into CFCOOKIE_RESOURCE; an
        // error names the setting the operator wrote it in.
        let source = if env.is_set(&config::RESOURCE_PARAMETER) {
            &config::RESOURCE_PARAMETER
        } else {
            &config::RESOURCE
        };
        let template = ResourceTemplate::parse(&resource)
            .map_err(|e| ConfigError::new(source, e.to_string()))?;
        let allowed_hosts: Vec<String> = env
            .list(&config::ALLOWED_HOSTS)
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        if template.uses_host() && allowed_hosts.is_empty() {
            return Err(ConfigError::new(&config::ALLOWED_HOSTS, "is empty but CFCOOKIE_RESOURCE uses {host}: set the hosts cookies may be minted for, or a fixed CFCOOKIE_RESOURCE"));
        }
        Policy::new(template.sample(), 1)
            .validate()
            .map_err(|e| ConfigError::new(source, e.to_string()))?;
        let allowed_origins = env.list(&config::ALLOWED_ORIGINS);
        // Sandboxed iframes, `data:` and `file:` pages all send `Origin: null`: trusting it
        // trusts every one of them.
        if allowed_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case("null"))
        {
            return Err(ConfigError::new(
                &config::ALLOWED_ORIGINS,
                "holds \"null\", the origin of sandboxed frames and local files: any page can send it; list real origins only",
            ));
        }
        let same_site: SameSite = env.choice(&config::SAME_SITE)?.parse().map_err(
            |e: cfcookie_signer::UnknownSameSite| {
                ConfigError::new(&config::SAME_SITE, e.to_string())
            },
        )?;
        let cookie = CookieAttributes::default()
            .with_path(env.text(&config::COOKIE_PATH).unwrap_or_else(|| "/".into()))
            .with_domain(env.text(&config::COOKIE_DOMAIN))
            .with_secure(true)
            .with_http_only(true)
            .with_same_site(same_site);
        cookie
            .validate()
            .map_err(|e| ConfigError::new(&config::COOKIE_PATH, e.to_string()))?;
        let hash = env.choice(&config::HASH_ALGORITHM)?.parse().map_err(
            |e: cfcookie_signer::UnknownHash| {
                ConfigError::new(&config::HASH_ALGORITHM, e.to_string())
            },
        )?;
        let config = EndpointConfig {
            cookie_lifetime: env.seconds(&config::COOKIE_LIFETIME)?,
            resource: SharedResource::new(resource, template),
            allowed_hosts,
            cookie,
            allowed_origins,
            token_header: env
                .text(&config::TOKEN_HEADER)
                .map(|h| h.to_ascii_lowercase()),
            hash,
            bind_viewer_ip: env.bool(&config::BIND_VIEWER_IP)?,
            path_prefix: env
                .text(&config::PATH_PREFIX)
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_owned(),
            signature_cache: crate::sigcache::SignatureCache::from_settings(
                env.number(&config::SIGNATURE_CACHE_SECONDS)?,
                env.number(&config::SIGNATURE_CACHE_SIZE)?,
            ),
            key_cache_ttl: env.number(&config::KEY_CACHE_TTL)?,
        };
        Ok((config, verifier))
    }
}

/// A claim the resource template can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    Sub,
    Username,
    ClientId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Host,
    /// A claim, verbatim (one safe path segment) or as the hex SHA-256 of its value.
    Claim {
        claim: Claim,
        hashed: bool,
    },
}

/// Why a resource template (`CFCOOKIE_RESOURCE`) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A `}` with no `{` before it.
    #[error("unmatched '}}' in {0:?}")]
    UnmatchedClose(String),
    /// A `{` with no `}` after it.
    #[error("unclosed '{{' in {0:?}")]
    Unclosed(String),
    /// `{name:modifier}` with a modifier other than `sha256`.
    #[error("{{{placeholder}}}: unknown modifier {modifier:?} (only :sha256)")]
    UnknownModifier {
        /// The placeholder as written, without braces.
        placeholder: String,
        /// The modifier.
        modifier: String,
    },
    /// A placeholder that is not `{host}`, `{sub}`, `{username}` or `{client_id}`.
    #[error("unknown placeholder {{{0}}}: use {{host}}, {{sub}}, {{username}} or {{client_id}} (claims may be {{name:sha256}})")]
    UnknownPlaceholder(String),
    /// A claim that is not a whole path segment, which would let one user's cookies match
    /// another's paths.
    #[error("{{{0}}} must be a whole path segment: '/' before it, and '/' or the end of the template after it (as in /users/{{{0}}}/*); otherwise one user's cookies match another's paths")]
    NotASegment(String),
}

/// `CFCOOKIE_RESOURCE`, parsed: text, `{host}`, and claims `{sub}`, `{username}`,
/// `{client_id}`, each optionally `:sha256`. Any other `{...}` is refused at start-up: left as
/// text it would silently drop the per-user scoping the operator meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTemplate {
    parts: Vec<Part>,
}

impl ResourceTemplate {
    /// Parses a template; the error says which placeholder is wrong.
    pub fn parse(template: &str) -> Result<ResourceTemplate, TemplateError> {
        let mut parts = Vec::new();
        let mut claims = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(TemplateError::UnmatchedClose(template.to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .map(|c| open + c)
                .ok_or_else(|| TemplateError::Unclosed(template.to_owned()))?;
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let inner = &rest[open + 1..close];
            let (name, modifier) = match inner.split_once(':') {
                Some((n, m)) => (n, Some(m)),
                None => (inner, None),
            };
            let hashed = match modifier {
                None => false,
                Some("sha256") => true,
                Some(m) => {
                    return Err(TemplateError::UnknownModifier {
                        placeholder: inner.to_owned(),
                        modifier: m.to_owned(),
                    })
                }
            };
            let part = match name {
                "host" if !hashed => Part::Host,
                "sub" => Part::Claim {
                    claim: Claim::Sub,
                    hashed,
                },
                "username" => Part::Claim {
                    claim: Claim::Username,
                    hashed,
                },
                "client_id" => Part::Claim {
                    claim: Claim::ClientId,
                    hashed,
                },
                _ => return Err(TemplateError::UnknownPlaceholder(inner.to_owned())),
            };
            if matches!(part, Part::Claim { .. }) {
                claims.push((parts.len(), inner.to_owned()));
            }
            parts.push(part);
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        // A claim not closed off by `/` on both sides widens access: `/u/{username}*` lets bob's
        // cookies match `/u/bobby/…`, and `{a}{b}` makes ("ab", "c") and ("a", "bc") one path.
        for (at, inner) in claims {
            let left = at.checked_sub(1).and_then(|i| parts.get(i));
            let left_ok = matches!(left, Some(Part::Text(t)) if t.ends_with('/'));
            let right_ok = match parts.get(at + 1) {
                None => true,
                Some(Part::Text(t)) => t.starts_with('/'),
                Some(_) => false,
            };
            if !(left_ok && right_ok) {
                return Err(TemplateError::NotASegment(inner));
            }
        }
        Ok(ResourceTemplate { parts })
    }

    /// The scheme of the template (`https`), lower-case, when it is written out.
    fn scheme(&self) -> Option<String> {
        match self.parts.first() {
            Some(Part::Text(t)) => t
                .split_once("://")
                .map(|(scheme, _)| scheme.to_ascii_lowercase()),
            _ => None,
        }
    }

    /// The template's host when it is written out (`https://media.example.com/…`), lower-case;
    /// `None` for `{host}` or a wildcard host.
    fn literal_host(&self) -> Option<String> {
        let Some(Part::Text(t)) = self.parts.first() else {
            return None;
        };
        let (_, after) = t.split_once("://")?;
        let host = match after.split_once('/') {
            Some((host, _)) => host,
            None if self.parts.len() == 1 => after,
            None => return None,
        };
        clean_host(host)
    }

    fn uses_host(&self) -> bool {
        self.parts.contains(&Part::Host)
    }

    /// The template filled with harmless values, for validation at start-up.
    fn sample(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                Part::Host => "example.com",
                Part::Claim { .. } => "x",
            })
            .collect()
    }
}

/// A claim is used as one path segment only if nothing in it can mean anything to a URL or to
/// S3: no `/`, `.`, `%`, `*`, `?`, spaces or non-ASCII. (Escaping is not enough: S3 decodes
/// `%2F` back to `/`, and `..` needs no escaping.)
fn safe_segment(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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
    pub clock: Arc<dyn Clock>,
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
/// The browser client served at `/cookie/client.js` (docs/client.md).
pub(crate) const CLIENT_JS: &str = include_str!("client.js");

/// An answer of `content_type` (its body left out for a HEAD), cached as `cache_control` says.
fn answer(
    method: &Method,
    body: String,
    content_type: &'static str,
    cache_control: &'static str,
) -> Response<String> {
    let mut r = Response::new(if method == Method::HEAD {
        String::new()
    } else {
        body
    });
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    r
}

/// A JSON answer no cache may keep (it carries or refuses one user's cookies).
fn json_answer(method: &Method, body: &serde_json::Value) -> Response<String> {
    answer(method, body.to_string(), "application/json", "no-store")
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<String> {
    crate::metrics::refused(code);
    let mut r = json_answer(&Method::GET, &json!({"error": code, "message": message}));
    *r.status_mut() = status;
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
            "/cookie/client.js" => Self::client_route(method),
            _ => error(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such route: use /cookie, /cookie/remove or /cookie/client.js",
            ),
        };
        self.cors(headers, route.starts_with("/cookie/remove"), &mut response);
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

    /// The browser client (`client.js`, an ES module): served here so that an app imports it
    /// from the media site, and so learns where the endpoint is.
    fn client_route(method: &Method) -> Response<String> {
        if let Some(r) = Self::method_check(method) {
            return r;
        }
        if method == Method::OPTIONS {
            return Self::preflight();
        }
        answer(
            method,
            CLIENT_JS.to_owned(),
            "text/javascript; charset=utf-8",
            "public, max-age=300",
        )
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
        let now = self.clock.epoch();
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
        // Inside the leeway after `exp` the token verifies, but its cookies would be expired on
        // arrival: tell the client to refresh the token instead.
        if claims.exp <= now {
            let e = TokenError::Expired;
            info!(reason = %e, "token refused");
            return error(StatusCode::UNAUTHORIZED, e.code(), &e.to_string());
        }
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
                        "IP binding is on but there is not exactly one CloudFront-Viewer-Address with an IPv4 address",
                    )
                }
            }
        }
        // The time of signing, not of the request's arrival: verifying the token (a JWKS
        // fetch) and the catch-up read take time, and the keys' age counts to the signature.
        let now = self.clock.epoch();
        if let Some(read) = self.keys.catch_up(now) {
            read.await;
        }
        let now = self.clock.epoch();
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
        let attrs = self.config.cookie.clone().with_expires(expires);
        let body = json!({
            "expires": expires,
            "expires_at": chrono::DateTime::from_timestamp(expires, 0).map(|t| t.to_rfc3339()),
            "resource": resource,
            "key_pair_id": signer.key_pair_id(),
        });
        let mut r = json_answer(method, &body);
        let h = r.headers_mut();
        crate::metrics::cookies_issued();
        let issued = cookies.set_cookie_headers(&attrs);
        // A CloudFront cookie left from an earlier issue (a SHA-256 `CloudFront-Hash-Algorithm`
        // when SHA-1 is issued now, a canned `CloudFront-Expires`) would make CloudFront refuse
        // the new ones: expire every CloudFront cookie not issued now.
        let stale = self
            .config
            .cookie
            .removal_headers()
            .into_iter()
            .filter(|removal| {
                let name = removal.split('=').next().unwrap_or_default();
                !issued.iter().any(|c| c.split('=').next() == Some(name))
            });
        for c in issued.iter().cloned().chain(stale) {
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(header::SET_COOKIE, v);
            }
        }
        r
    }

    fn resource(&self, headers: &HeaderMap, claims: &Claims) -> Result<String, Refuse> {
        let template = self.config.resource.template();
        let mut out = String::new();
        for part in &template.1.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Host => out.push_str(&self.host(headers)?),
                Part::Claim { claim, hashed } => {
                    let (name, value) = match claim {
                        Claim::Sub => ("sub", Some(claims.sub.as_str())),
                        Claim::Username => ("username", claims.username.as_deref()),
                        Claim::ClientId => ("client_id", Some(claims.client_id.as_str())),
                    };
                    let value = value.ok_or_else(|| {
                        Refuse(
                            StatusCode::FORBIDDEN,
                            "missing_claim",
                            format!("the token has no claim for {{{name}}}"),
                        )
                    })?;
                    if *hashed {
                        out.push_str(&cfcookie_signer::sha256_hex(value.as_bytes()));
                    } else if safe_segment(value) {
                        out.push_str(value);
                    } else {
                        return Err(Refuse(
                            StatusCode::FORBIDDEN,
                            "unsafe_claim",
                            format!("the token's {name} is not one path segment of letters, digits, '-' and '_'"),
                        ));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The request's Host, if it is exactly one of the allowed hosts (a port included: a Host
    /// with a port matches only an entry with that port).
    fn host(&self, headers: &HeaderMap) -> Result<String, Refuse> {
        let mut values = headers.get_all(header::HOST).iter();
        let host = match (values.next(), values.next()) {
            (Some(h), None) => h.to_str().ok().and_then(clean_host),
            _ => None,
        }
        .ok_or_else(|| {
            Refuse(
                StatusCode::BAD_REQUEST,
                "bad_host",
                "one Host header is required".into(),
            )
        })?;
        if !self.config.allowed_hosts.iter().any(|a| a == &host) {
            return Err(Refuse(
                StatusCode::BAD_REQUEST,
                "host_not_allowed",
                format!("cookies are not issued for host {host:?}"),
            ));
        }
        Ok(host)
    }

    /// Whether a browser sent this request on behalf of another site: an `Origin` that is
    /// neither allowed nor the site's own, or `Sec-Fetch-Site: cross-site` without an allowed
    /// `Origin`. Requests without either header (curl, backends) are not browsers' and pass.
    ///
    /// "The site's own" is `scheme://host` for a host of `CFCOOKIE_ALLOWED_HOSTS` or the
    /// template's literal host, with the template's scheme: not the request's Host, which behind
    /// CloudFront is the origin's (the Lambda function URL's), never the site's. A plain-`http`
    /// page cannot sign out of an `https` site, even one listed in `CFCOOKIE_ALLOWED_ORIGINS`
    /// (anyone on the network path can forge that page).
    fn cross_site(&self, headers: &HeaderMap) -> bool {
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        let secure_site = self
            .config
            .resource
            .template()
            .1
            .scheme()
            .is_none_or(|s| s == "https");
        let trusted = origin.is_some_and(|o| {
            let plain = o
                .get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case("http://"));
            !(plain && secure_site)
                && (self.config.allowed_origins.iter().any(|a| a == o) || self.own_origin(o))
        });
        let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        !trusted && (origin.is_some() || fetch_site == Some("cross-site"))
    }

    /// Whether `origin` is `scheme://host` of the site itself (see [`Self::cross_site`]).
    fn own_origin(&self, origin: &str) -> bool {
        let template = self.config.resource.template();
        let template = &template.1;
        let scheme = template.scheme().unwrap_or_else(|| "https".to_owned());
        let Some(host) = origin
            .to_ascii_lowercase()
            .strip_prefix(&format!("{scheme}://"))
            .and_then(clean_host)
        else {
            return false;
        };
        self.config.allowed_hosts.contains(&host) || template.literal_host() == Some(host)
    }

    fn remove_route(&self, method: &Method, headers: &HeaderMap) -> Response<String> {
        // Signing out changes state, so another site must not be able to trigger it with an
        // <img> or a form: POST only (no GET), and refused when a browser says it comes from
        // a foreign origin.
        if method == Method::OPTIONS {
            return Self::preflight();
        }
        if method != Method::POST {
            let mut r = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "use POST",
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
            return r;
        }
        if self.cross_site(headers) {
            return error(
                StatusCode::FORBIDDEN,
                "cross_site",
                "sign-out is accepted from this site or an allowed origin only",
            );
        }
        let mut r = json_answer(method, &json!({"removed": true}));
        let h = r.headers_mut();
        for c in self.config.cookie.removal_headers() {
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(header::SET_COOKIE, v);
            }
        }
        r
    }

    /// CORS with credentials for allowed origins only; no Origin, no CORS headers.
    fn cors(&self, headers: &HeaderMap, remove: bool, response: &mut Response<String>) {
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
                HeaderValue::from_static(if remove {
                    "POST, OPTIONS"
                } else {
                    "GET, HEAD, OPTIONS"
                }),
            );
            // Behind Origin Access Control CloudFront requires `x-amz-content-sha256` on a POST
            // to a Lambda function URL ("Restrict access to an AWS Lambda function URL origin",
            // https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-lambda.html),
            // and a fetch that sends it (or a JSON Content-Type) is preflighted.
            const ALLOWED: &str = "authorization, content-type, x-amz-content-sha256";
            let allow = match &self.config.token_header {
                Some(extra) => format!("{ALLOWED}, {extra}"),
                None => ALLOWED.to_owned(),
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
    // CloudFront sends one; a second one was added by someone else, and which one CloudFront
    // wrote cannot be told apart.
    let mut values = headers.get_all("cloudfront-viewer-address").iter();
    let v = match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().ok()?,
        _ => return None,
    };
    let ip = v.rsplit_once(':').map_or(v, |(ip, _)| ip);
    match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => format!("{a}/32").parse().ok(),
        IpAddr::V6(_) => None,
    }
}
