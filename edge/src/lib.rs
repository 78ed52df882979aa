//! A local stand-in for one CloudFront distribution (`cfcookie edge`).
//!
//! [`Edge::load`] reads the distribution, its origin access controls, trusted key groups and
//! public keys through the CloudFront API (so after `terraform apply` to the emulator it serves
//! that stack); [`run`] answers viewer requests on a listener as CloudFront would: the behavior
//! by path pattern, its allowed methods, its trusted key groups (checked with
//! `cfcookie-signer`'s verifier, the key groups as an edge location sees them after the
//! propagation delay), then the origin request its cache and origin request policies make,
//! signed by OAC. Every refusal is CloudFront's status plus `x-cfcookie-refusal: REASON`.
//! What is modelled, and what is not, is `docs/edge.md`.
//!
//! # Layout
//! - `distribution`: [`Distribution`], [`Origin`], [`Behavior`]: the configuration, path
//!   patterns, allowed methods.
//! - `source`: reading them, and the key groups, with `aws-sdk-cloudfront`.
//! - `keys`: [`KeyView`], the key groups over time (a change visible after the delay).
//! - `policies`: the AWS managed cache and origin request policies by id.
//! - `response_headers`: response headers policies (CORS, security and custom headers).
//! - `origin`: the origin request (headers, cookies, query, `Host`, CloudFront headers) and
//!   OAC's SigV4 signature.
//! - this file: [`Edge`] (the request path), [`authorize`] (the signature decision, shared
//!   with `serve --dev`), [`Settings`], [`run`], [`EdgeError`].
#![forbid(unsafe_code)]

mod distribution;
mod keys;
mod origin;
mod policies;
mod response_headers;
mod source;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use bytes::Bytes;
use cfcookie_signer::{verify_cookies, verify_signed_url, Grant, KeyGroup, Refusal, ViewerRequest};
use http::header::{COOKIE, HOST};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

pub use distribution::{AccessControl, Behavior, CustomErrorResponse, Distribution, Origin};
pub use keys::{KeyView, Snapshot};
pub use policies::UnknownPolicy;

/// The header that names why the edge refused (or failed) a request.
pub const REFUSAL_HEADER: &str = "x-cfcookie-refusal";

/// Largest viewer request body the edge forwards.
const MAX_BODY: usize = 10 * 1024 * 1024;

/// Why the edge cannot start or refresh.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EdgeError {
    /// A CloudFront API call failed.
    #[error("{what}: {source}")]
    CloudFront {
        /// The call.
        what: String,
        /// The SDK's error.
        source: Box<aws_sdk_cloudfront::Error>,
    },
    /// The distribution is not one the edge can serve.
    #[error("{0}")]
    Config(String),
    /// A behavior names a policy the edge does not model.
    #[error(transparent)]
    Policy(#[from] UnknownPolicy),
}

/// The AWS configuration from the environment (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials).
pub async fn load_aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// What `cfcookie edge` is told on its command line.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Settings {
    /// The distribution to serve.
    pub distribution_id: String,
    /// Seconds before a key group change read from CloudFront is enforced.
    pub propagation_delay: u64,
    /// Origin domain → base URL the edge sends that origin's requests to.
    pub origins: HashMap<String, String>,
}

impl Settings {
    /// Settings for `distribution_id` with no delay and no origin mapping.
    pub fn new(distribution_id: impl Into<String>) -> Settings {
        Settings {
            distribution_id: distribution_id.into(),
            ..Settings::default()
        }
    }
}

/// One distribution, served.
#[derive(Clone)]
pub struct Edge {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge")
            .field("distribution", &self.inner.distribution.id)
            .finish_non_exhaustive()
    }
}

struct Inner {
    distribution: Distribution,
    policies: Vec<policies::Combined>,
    response_policies: Vec<Option<response_headers::ResponseHeadersPolicy>>,
    targets: HashMap<String, origin::Target>,
    keys: Mutex<KeyView>,
    cloudfront: aws_sdk_cloudfront::Client,
    credentials: Option<SharedCredentialsProvider>,
    client: Client<HttpConnector, Full<Bytes>>,
    refresh: Duration,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Edge {
    /// Reads the distribution and its key groups through `sdk` (its endpoint is also where S3
    /// origins are read).
    pub async fn load(sdk: &aws_config::SdkConfig, settings: Settings) -> Result<Edge, EdgeError> {
        let cloudfront = aws_sdk_cloudfront::Client::new(sdk);
        let distribution =
            source::read_distribution(&cloudfront, &settings.distribution_id).await?;
        let mut policies = Vec::new();
        for b in &distribution.behaviors {
            policies.push(policies::Combined::new(
                policies::cache_policy(&b.cache_policy_id)?,
                policies::origin_request_policy(&b.origin_request_policy_id)?,
            ));
        }
        let mut response_policies = Vec::new();
        for b in &distribution.behaviors {
            response_policies.push(match b.response_headers_policy_id.as_str() {
                "" => None,
                id => Some(source::read_response_headers_policy(&cloudfront, id).await?),
            });
        }
        let default_region = sdk
            .region()
            .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string());
        let mut targets = HashMap::new();
        for o in &distribution.origins {
            let target = if let Some(base) = settings.origins.get(&o.domain_name) {
                origin::Target::Custom {
                    base: base.clone(),
                    region: o.lambda_region().unwrap_or_else(|| default_region.clone()),
                }
            } else if let Some((bucket, region)) = o.s3_bucket() {
                let endpoint = sdk.endpoint_url().ok_or_else(|| {
                    EdgeError::Config(format!(
                        "S3 origin {} needs AWS_ENDPOINT_URL (the S3 API the edge reads it \
                         through) or --origin {}=URL",
                        o.domain_name, o.domain_name
                    ))
                })?;
                origin::Target::S3 {
                    endpoint: endpoint.to_owned(),
                    bucket,
                    region: region.unwrap_or_else(|| default_region.clone()),
                }
            } else {
                tracing::warn!(
                    origin = %o.domain_name,
                    "no --origin {}=URL: requests for this origin answer 502", o.domain_name
                );
                continue;
            };
            targets.insert(o.id.clone(), target);
        }
        let snapshot = source::read_key_groups(&cloudfront, &distribution.key_group_ids()).await?;
        let keys = KeyView::new(snapshot, now(), settings.propagation_delay);
        // Re-read often enough that a change is enforced close to when the delay says.
        let refresh = Duration::from_secs((settings.propagation_delay / 4).clamp(1, 30));
        Ok(Edge {
            inner: Arc::new(Inner {
                distribution,
                policies,
                response_policies,
                targets,
                keys: Mutex::new(keys),
                cloudfront,
                credentials: sdk.credentials_provider(),
                client: Client::builder(TokioExecutor::new()).build_http(),
                refresh,
            }),
        })
    }

    /// The distribution served.
    pub fn distribution(&self) -> &Distribution {
        &self.inner.distribution
    }

    /// Reads the key groups again; a change is enforced after the propagation delay.
    pub async fn refresh_keys(&self) -> Result<(), EdgeError> {
        let ids = self.inner.distribution.key_group_ids();
        let snapshot = source::read_key_groups(&self.inner.cloudfront, &ids).await?;
        self.lock_keys().observe(snapshot, now());
        Ok(())
    }

    fn lock_keys(&self) -> std::sync::MutexGuard<'_, KeyView> {
        // A panic while holding the lock cannot leave the view half-updated (observe and at
        // are single pushes and drains), so a poisoned lock is still a usable view.
        self.inner
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Answers one viewer request from `peer`.
    pub async fn handle(&self, req: http::Request<Bytes>, peer: SocketAddr) -> Response<Bytes> {
        let inner = &self.inner;
        let dist = &inner.distribution;
        let (parts, body) = req.into_parts();
        let requested = parts.uri.path();
        let query = parts.uri.query().unwrap_or("");
        // A request for the root gets the default root object; no other path does.
        // https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DefaultRootObject.html
        let path = if requested == "/" && !dist.default_root_object.is_empty() {
            format!("/{}", dist.default_root_object.trim_start_matches('/'))
        } else {
            requested.to_owned()
        };
        let Some(index) = dist.behaviors.iter().position(|b| b.matches(&path)) else {
            return refusal(
                StatusCode::BAD_GATEWAY,
                "no_behavior",
                "no behavior matches",
            );
        };
        let behavior = &dist.behaviors[index];
        if !behavior.allows(parts.method.as_str()) {
            // https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/http-403-invalid-method.html
            return refusal(
                StatusCode::FORBIDDEN,
                "method_not_allowed",
                &format!("{} is not an allowed method of this behavior", parts.method),
            );
        }
        if !behavior.trusted_key_groups.is_empty() {
            // Signed URLs and signed cookies: the request must carry a signature by a key of
            // one of the behavior's trusted key groups, else 403.
            // https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-signed-urls.html
            // https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-signed-cookies.html
            let t = now();
            let parsed = self.lock_keys().at(t);
            let group = parsed.union(&behavior.trusted_key_groups);
            let site = format!("https://{}", viewer_host(dist, &parts.headers));
            let viewer = Viewer {
                site: &site,
                path: requested,
                query,
                headers: &parts.headers,
                ip: peer.ip(),
            };
            if let Err(r) = authorize(&group, &viewer, t) {
                return refusal(StatusCode::FORBIDDEN, r.code(), &r.to_string());
            }
        }
        let viewer = origin::Viewer {
            method: &parts.method,
            path: &path,
            query,
            headers: &parts.headers,
            peer,
            body,
        };
        let mut response = self.forward(index, &viewer).await;
        if let Some(page) = self.error_page(response.status(), peer).await {
            response = page;
        }
        if let Some(policy) = &inner.response_policies[index] {
            policy.apply(&parts.method, &parts.headers, response.headers_mut());
        }
        response
    }

    /// The custom error response for an origin's error `status`: the page at the configured
    /// path, fetched as CloudFront fetches it (through the behavior its path matches, from that
    /// behavior's origin, not as a viewer request), with the configured response code. When the
    /// page cannot be had, the status its origin answered.
    /// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/GeneratingCustomErrorResponses.html>
    /// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesErrorPages.html>
    async fn error_page(&self, status: StatusCode, peer: SocketAddr) -> Option<Response<Bytes>> {
        let dist = &self.inner.distribution;
        let rule = dist
            .custom_error_responses
            .iter()
            .find(|r| r.error_code == status.as_u16())?;
        let page_path = rule.response_page_path.as_deref()?;
        let index = dist.behaviors.iter().position(|b| b.matches(page_path))?;
        let headers = http::HeaderMap::new();
        let viewer = origin::Viewer {
            method: &http::Method::GET,
            path: page_path,
            query: "",
            headers: &headers,
            peer,
            body: Bytes::new(),
        };
        let mut page = self.forward(index, &viewer).await;
        if page.status().is_success() {
            *page.status_mut() = rule
                .response_code
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(status);
        } else {
            *page.body_mut() = Bytes::new();
        }
        Some(page)
    }

    /// Sends `viewer`'s request to the origin of behavior `index`, as that behavior's policies
    /// and the origin's access control make it.
    async fn forward(&self, index: usize, viewer: &origin::Viewer<'_>) -> Response<Bytes> {
        let inner = &self.inner;
        let dist = &inner.distribution;
        let behavior = &dist.behaviors[index];
        let Some(origin) = dist.origin(&behavior.target_origin_id) else {
            return refusal(
                StatusCode::BAD_GATEWAY,
                "no_origin",
                "the behavior names an origin the distribution does not have",
            );
        };
        let Some(target) = inner.targets.get(&origin.id) else {
            return refusal(
                StatusCode::BAD_GATEWAY,
                "origin_not_mapped",
                &format!("start the edge with --origin {}=URL", origin.domain_name),
            );
        };
        let mut req = match origin::build(
            viewer,
            &inner.policies[index],
            origin,
            target,
            &dist.domain_name,
        ) {
            Ok(r) => r,
            Err(e) => return refusal(StatusCode::BAD_REQUEST, "bad_request", &e),
        };
        if let Some(ac) = &origin.access_control {
            let Some(credentials) = &inner.credentials else {
                return refusal(
                    StatusCode::BAD_GATEWAY,
                    "no_credentials",
                    "the origin has an origin access control but no AWS credentials are set",
                );
            };
            let viewer_authorization = viewer.headers.contains_key(http::header::AUTHORIZATION);
            if ac.origin_type == "lambda"
                && origin::oac_signs(&ac.signing_behavior, viewer_authorization)
            {
                if let Err((reason, message)) = origin::lambda_payload_hash(viewer) {
                    return refusal(StatusCode::FORBIDDEN, reason, &message);
                }
            }
            if let Err(e) = origin::sign_oac(
                &mut req,
                viewer_authorization,
                &ac.signing_behavior,
                &ac.origin_type,
                target,
                origin,
                credentials,
            )
            .await
            {
                return refusal(StatusCode::BAD_GATEWAY, "origin_signing", &e);
            }
        }
        self.send(req).await
    }

    async fn send(&self, req: origin::OriginRequest) -> Response<Bytes> {
        let url = req.url.clone();
        let (parts, body) = req.request.into_parts();
        let request = http::Request::from_parts(parts, Full::new(body));
        let response = match self.inner.client.request(request).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%url, error = %e, "origin unreachable");
                return refusal(
                    StatusCode::BAD_GATEWAY,
                    "origin_unreachable",
                    "the origin did not answer",
                );
            }
        };
        let (mut parts, body) = response.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                tracing::warn!(%url, error = %e, "origin response broken");
                return refusal(
                    StatusCode::BAD_GATEWAY,
                    "origin_unreachable",
                    "the origin's response broke off",
                );
            }
        };
        let names: Vec<_> = parts.headers.keys().cloned().collect();
        for name in names {
            if origin::hop_by_hop(&name) {
                parts.headers.remove(&name);
            }
        }
        parts
            .headers
            .insert("x-cache", HeaderValue::from_static("Miss from cloudfront"));
        Response::from_parts(parts, body)
    }
}

/// The host the viewer asked for, as the signed resource names it: the `Host` header when it
/// is the distribution's domain or an alias, else the distribution's domain (a local client
/// reaching the edge at 127.0.0.1 stands for a viewer of the distribution).
fn viewer_host<'a>(dist: &'a Distribution, headers: &'a http::HeaderMap) -> &'a str {
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    match host {
        Some(h) if h == dist.domain_name || dist.aliases.iter().any(|a| a == h) => h,
        _ => &dist.domain_name,
    }
}

/// A viewer request as a behavior with trusted key groups judges it.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    /// The scheme and host the viewer asked for (`https://media.example.com`).
    pub site: &'a str,
    /// The path as requested, before any default root object.
    pub path: &'a str,
    /// The query string, without `?`.
    pub query: &'a str,
    /// The request's headers (every `Cookie` header counts).
    pub headers: &'a http::HeaderMap,
    /// The viewer's address (a custom policy's `IpAddress`).
    pub ip: IpAddr,
}

/// CloudFront's decision for a request to a behavior that trusts `group`'s keys: a signed URL
/// when the query carries CloudFront's signing parameters, else the signed cookies, checked
/// against the URL the viewer asked for at `now`. `cfcookie edge` and `serve --dev`'s
/// protected folder both decide with this.
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-signed-urls.html>
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-signed-cookies.html>
pub fn authorize(group: &KeyGroup, viewer: &Viewer<'_>, now: i64) -> Result<Grant, Refusal> {
    let url = format!(
        "{}{}{}{}",
        viewer.site,
        viewer.path,
        if viewer.query.is_empty() { "" } else { "?" },
        viewer.query
    );
    let cookie = viewer
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ");
    let request = ViewerRequest::new(&url, now)
        .with_cookie_header((!cookie.is_empty()).then_some(cookie.as_str()))
        .with_client_ip(viewer.ip);
    if is_signed_url(viewer.query) {
        verify_signed_url(group, &request)
    } else {
        verify_cookies(group, &request)
    }
}

fn is_signed_url(query: &str) -> bool {
    query.split('&').any(|p| {
        let name = p.split_once('=').map_or(p, |(n, _)| n);
        matches!(name, "Signature" | "Key-Pair-Id" | "Policy" | "Expires")
    })
}

/// The edge's refusal: `status`, `x-cfcookie-refusal: REASON` and a one-line text body.
pub fn refusal(status: StatusCode, reason: &'static str, detail: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(format!("{reason}: {detail}\n")));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(REFUSAL_HEADER, HeaderValue::from_static(reason));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Serves `edge` on `listener` until `shutdown` completes, re-reading the key groups in the
/// background.
pub async fn run(edge: Edge, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let refresher = {
        let edge = edge.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(edge.inner.refresh).await;
                if let Err(e) = edge.refresh_keys().await {
                    tracing::warn!(error = %e, "key groups not re-read; keeping the last view");
                }
            }
        })
    };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let edge = edge.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let edge = edge.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let limited = http_body_util::Limited::new(body, MAX_BODY);
                        let response = match limited.collect().await {
                            Ok(b) => {
                                let req = http::Request::from_parts(parts, b.to_bytes());
                                edge.handle(req, peer).await
                            }
                            Err(_) => refusal(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                "body_too_large",
                                "the request body is too large",
                            ),
                        };
                        Ok::<_, std::convert::Infallible>(response.map(Full::new))
                    }
                });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    refresher.abort();
}
